/**
 * The typed failures of launching and talking to a VM plugin. Each message is written for
 * the person reading the node's log: what happened, with the facts needed to act on it.
 */
import { Schema } from "effect"
import * as ProtocolVersion from "./ProtocolVersion.ts"

/** How a plugin process ended: an exit code, or the signal that killed it. */
export const ProcessExit = Schema.Struct({
  code: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String)
})
export type ProcessExit = typeof ProcessExit.Type

export const describeExit = (exit: ProcessExit): string =>
  exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code}`

const tail = (lines: ReadonlyArray<string>): string =>
  lines.length === 0 ? "" : `\nlast stderr lines:\n  ${lines.join("\n  ")}`

/** The plugin did not call `Initialize` in time. The seed's wording starts the message. */
export class HandshakeTimeout extends Schema.TaggedError<HandshakeTimeout>()("HandshakeTimeout", {
  path: Schema.String,
  pid: Schema.Int,
  timeoutMillis: Schema.Number,
  stderrTail: Schema.Array(Schema.String)
}) {
  override get message() {
    return `handshake failed: timeout: ${this.path} (pid ${this.pid}) did not call vm.runtime.Runtime/Initialize ` +
      `within ${this.timeoutMillis} ms. Is it an rpcchainvm plugin, and does it read the engine address ` +
      `from one of the env vars vmre sets?${tail(this.stderrTail)}`
  }
}

/** The plugin speaks another rpcchainvm protocol version than the node. */
export class ProtocolVersionMismatch extends Schema.TaggedError<ProtocolVersionMismatch>()("ProtocolVersionMismatch", {
  path: Schema.String,
  node: Schema.Int,
  vm: Schema.Int
}) {
  override get message() {
    return `handshake failed: protocol version mismatch node: ${this.node} vm: ${this.vm}. ` +
      `${this.path} speaks rpcchainvm protocol ${ProtocolVersion.describe(this.vm)}; this node expects ` +
      `${ProtocolVersion.describe(this.node)}. Use a plugin built for protocol ${this.node}, ` +
      `or launch it with protocol version ${this.vm} (vmre --protocol ${this.vm}) if this node supports it.`
  }
}

/** The plugin exited (or was killed) before it completed the handshake. */
export class ProcessExitedBeforeHandshake
  extends Schema.TaggedError<ProcessExitedBeforeHandshake>()("ProcessExitedBeforeHandshake", {
    path: Schema.String,
    pid: Schema.Int,
    exitCode: Schema.NullOr(Schema.Int),
    signal: Schema.NullOr(Schema.String),
    afterMillis: Schema.Number,
    stderrTail: Schema.Array(Schema.String)
  })
{
  override get message() {
    return `handshake failed: vm process exited before the handshake: ${this.path} (pid ${this.pid}) ` +
      `${describeExit({ code: this.exitCode, signal: this.signal })} after ${this.afterMillis} ms` +
      tail(this.stderrTail)
  }
}

/** Why a plugin binary could not be executed. */
export const SpawnFailureReason = Schema.Literals([
  "NotFound",
  "NotAFile",
  "NotExecutable",
  "WrongArchitecture",
  "WrongFormat",
  "BadInterpreter",
  "Other"
])
export type SpawnFailureReason = typeof SpawnFailureReason.Type

/** The plugin binary could not be started; `detail` says what to fix. */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>()("SpawnFailed", {
  path: Schema.String,
  reason: SpawnFailureReason,
  detail: Schema.String
}) {
  override get message() {
    return `cannot start vm plugin ${this.path}: ${this.detail}`
  }
}

/** The plugin reported an address the node must not dial (not loopback `host:port`). */
export class InvalidVmAddress extends Schema.TaggedError<InvalidVmAddress>()("InvalidVmAddress", {
  path: Schema.String,
  addr: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `handshake failed: ${this.path} reported vm address ${JSON.stringify(this.addr)}: ${this.reason}. ` +
      `A plugin must serve on loopback and report 127.0.0.1:PORT (or [::1]:PORT).`
  }
}

/** The runtime's own handshake server could not be started. */
export class RuntimeServerFailed extends Schema.TaggedError<RuntimeServerFailed>()("RuntimeServerFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `cannot start the vm.runtime.Runtime server: ${this.reason}`
  }
}

/** Everything `Runtime.launch` can fail with. */
export type LaunchError =
  | ChecksumMismatch
  | HandshakeTimeout
  | ProtocolVersionMismatch
  | ProcessExitedBeforeHandshake
  | SpawnFailed
  | InvalidVmAddress
  | RuntimeServerFailed

/** The plugin binary is not the one pinned by its SHA-256 digest: it was not started. */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()("ChecksumMismatch", {
  path: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `refusing to start ${this.path}: its SHA-256 is ${this.actual}, but ${this.expected} is pinned. ` +
      `If the plugin was upgraded on purpose, pin the new digest (vmre check --sha256 prints it).`
  }
}
