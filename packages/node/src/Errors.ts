/** The typed failures of the node side: plugin directories, registration, chains. */
import { Schema } from "effect"

/** The plugin directory does not exist or is not a directory. */
export class PluginDirectoryInvalid extends Schema.TaggedError<PluginDirectoryInvalid>()("PluginDirectoryInvalid", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `plugin dir ${JSON.stringify(this.path)} ${this.reason}: give the directory that holds the VM plugins ` +
      `(one executable per VM, named by its VM ID)`
  }
}

/** The VM aliases file cannot be read, is not the expected JSON, or maps one alias twice. */
export class InvalidVmAliases extends Schema.TaggedError<InvalidVmAliases>()("InvalidVmAliases", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid vm aliases file ${this.path}: ${this.reason}. ` +
      `It must be a JSON object mapping VM IDs to arrays of aliases: {"<vmID>": ["alias", …]}`
  }
}

/** No registered VM has this ID or alias. */
export class VmNotRegistered extends Schema.TaggedError<VmNotRegistered>()("VmNotRegistered", {
  vm: Schema.String,
  registered: Schema.Array(Schema.String)
}) {
  override get message() {
    return `no VM is registered as ${JSON.stringify(this.vm)}` +
      (this.registered.length === 0 ?
        ": the registry is empty (did every plugin fail to register?)" :
        `; registered: ${this.registered.join(", ")}`)
  }
}
