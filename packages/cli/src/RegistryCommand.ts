/**
 * `vmre registry DIR`: registers every plugin of a plugin directory as a node would, and
 * prints each VM (ID, aliases, path, protocol version, `Version`), each failure as the Go
 * nodes log it (`failed to register VM {"vmID": …, "error": …}`) and each skipped file.
 * Exit code 1 when any VM failed to register, 2 when the directory or aliases file is unusable.
 */
import { VmRegistry, type RegistryReport } from "@vmre/node"
import { ProtocolVersion, VmRuntime } from "@vmre/runtime"
import { Console, Effect, Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as path from "node:path"
import { ExitCode, Reported } from "./ExitCode.ts"
import { launchOptionFlags, toLaunchOptions } from "./LaunchFlags.ts"
import { print, tell, withLogLevel } from "./Output.ts"

/** The Go nodes' line for a VM that failed to register (zap's console form). */
export const failedLine = (vmId: string, error: string): string =>
  `failed to register VM {"vmID": ${JSON.stringify(vmId)}, "error": ${JSON.stringify(error)}}`

export const reportJson = (report: RegistryReport) => ({
  registered: report.registered.map(({ aliases, path, protocolVersion, version, vmId }) => ({
    vmID: vmId,
    aliases,
    path,
    protocolVersion,
    version
  })),
  failed: report.failed.map(({ detail, error, path, vmId }) => ({ vmID: vmId, path, error, detail })),
  skipped: report.skipped
})

export const reportText = (dir: string, report: RegistryReport): string => {
  const lines = [
    `${path.resolve(dir)}: ${report.registered.length} registered, ${report.failed.length} failed, ` +
    `${report.skipped.length} skipped`
  ]
  for (const vm of report.registered) {
    lines.push(
      "",
      vm.vmId,
      `  aliases:   ${vm.aliases.length === 0 ? "(none)" : vm.aliases.join(", ")}`,
      `  path:      ${vm.path}`,
      `  protocol:  ${ProtocolVersion.describe(vm.protocolVersion)}`,
      `  version:   ${vm.version}`
    )
  }
  for (const failure of report.failed) {
    // The nodes' line, then the whole story, indented.
    lines.push("", failedLine(failure.vmId, failure.error), ...failure.detail.split("\n").map((line) => `  ${line}`))
  }
  if (report.skipped.length > 0) lines.push("", ...report.skipped.map((s) => `skipped ${s.path}: ${s.reason}`))
  return lines.join("\n")
}

// One digest cannot pin a directory of plugins, and registration needs vm.VM.
const { expectSha256: _, handshakeOnly: __, ...registryLaunchFlags } = launchOptionFlags

export const registry = Command.make(
  "registry",
  {
    dir: Argument.String("dir").pipe(
      Argument.withMetavar("DIR"),
      Argument.withDescription("The plugin directory: one executable per VM, named by its CB58 VM ID")
    ),
    aliases: Flag.String("aliases").pipe(
      Flag.withMetavar("FILE"),
      Flag.withDescription(`VM aliases: a JSON object {"<vmID>": ["alias", …]}`),
      Flag.optional
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print one JSON object {registered, failed, skipped} on stdout and nothing else"),
      Flag.withDefault(false)
    ),
    ...registryLaunchFlags
  },
  Effect.fn("vmre registry")(function*(input) {
    const layer = VmRegistry.layer({
      pluginDir: input.dir,
      aliasesFile: input.aliases._tag === "Some" ? input.aliases.value : undefined,
      launch: toLaunchOptions({ ...input, expectSha256: Option.none(), handshakeOnly: false })
    }).pipe(Layer.provide(VmRuntime.layer))
    const report = yield* Effect.gen(function*() {
      return yield* (yield* VmRegistry).report
    }).pipe(
      Effect.provide(layer),
      Effect.catchTags({
        PluginDirectoryInvalid: (error) => Effect.andThen(tell(error.message), new Reported({ code: ExitCode.usage })),
        InvalidVmAliases: (error) => Effect.andThen(tell(error.message), new Reported({ code: ExitCode.usage }))
      }),
      // The failures are in the report; the plugins' own lines only from --log-level.
      withLogLevel("None")
    )
    yield* input.json ? Console.log(JSON.stringify(reportJson(report))) : print(reportText(input.dir, report))
    if (report.failed.length > 0) return yield* new Reported({ code: ExitCode.pluginFailed })
  })
).pipe(
  Command.withShortDescription("Register every plugin of a plugin directory, as a node does"),
  Command.withDescription(
    "Register the VM plugins of DIR as avalanchego and luxd do (each executable named by its VM ID): " +
      "launch each, handshake, call Version, stop it. Prints the registered VMs, the failures as the nodes " +
      "log them, and the files skipped. Exit code 0 if every VM registered, 1 if any failed, 2 on bad usage."
  ),
  Command.withExamples([
    { command: "vmre registry ~/.avalanchego/plugins", description: "Check a node's plugin directory" },
    { command: "vmre registry ./plugins --aliases ./aliases.json --json", description: "One JSON object on stdout" },
    { command: "vmre registry ./plugins --protocol 44,45", description: "Accept plugins of protocol 44 or 45" }
  ])
)
