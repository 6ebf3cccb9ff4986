/** `vmre pack ENTRY --out PATH`: see Pack.ts. */
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as path from "node:path"
import { ExitCode, Reported } from "./ExitCode.ts"
import * as Pack from "./Pack.ts"
import { whileWaiting } from "./StatusLine.ts"

const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024 ?
    `${(bytes / 1024 / 1024).toFixed(1)} MiB` :
    bytes >= 1024 ?
    `${(bytes / 1024).toFixed(0)} KiB` :
    `${bytes} bytes`

const kinds = {
  snapshot: "single executable (Node SEA, start-up snapshot)",
  "code-cache": "single executable (Node SEA, code cache)",
  bundle: "launcher + bundle in .vmre/"
} as const

export const pack = Command.make(
  "pack",
  {
    entry: Argument.String("entry").pipe(
      Argument.withMetavar("ENTRY"),
      Argument.withDescription("The VM's main module (it calls runPlugin from @vmre/plugin)")
    ),
    out: Flag.String("out").pipe(
      Flag.withMetavar("PATH"),
      Flag.withDescription("The plugin file to write, e.g. ~/.avalanchego/plugins/<VMID>")
    ),
    launcher: Flag.Boolean("launcher").pipe(
      Flag.withDescription("Write a /bin/sh launcher and its bundle (in .vmre/ beside it) instead of a single executable"),
      Flag.withDefault(false)
    ),
    codeCache: Flag.Boolean("code-cache").pipe(
      Flag.withDescription("Give the executable V8's code cache instead of a start-up snapshot of the loaded VM"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("vmre pack")(function*(input) {
    const packed = yield* Pack.pack({ entry: input.entry, out: input.out, sea: !input.launcher, snapshot: !input.codeCache }).pipe(
      whileWaiting(`packing ${path.basename(input.entry)}…`),
      Effect.catchTag("PackFailed", (error) => Effect.andThen(Console.error(error.message), new Reported({ code: ExitCode.pluginFailed })))
    )
    yield* Console.log(
      `packed: ${packed.out}\n` +
        `  kind:   ${kinds[packed.startup]}\n` +
        (packed.snapshotFailure === undefined ? "" : `  no start-up snapshot: ${packed.snapshotFailure}\n`) +
        `  size:   ${formatBytes(packed.bytes)} (bundle ${formatBytes(packed.bundleBytes)})\n` +
        `  took:   ${(packed.duration / 1000).toFixed(1)} s`
    )
  })
).pipe(
  Command.withShortDescription("Turn a TypeScript VM into one plugin file"),
  Command.withDescription(
    "Bundle a VM written with @vmre/plugin and make it one executable file a node runs from its plugin directory, " +
      "like a Go VM: a Node single executable application, or a launcher and bundle. Exit code 1 if it cannot."
  ),
  Command.withExamples([
    { command: "vmre pack src/main.ts --out ~/.avalanchego/plugins/<VMID>", description: "Pack a VM into a node's plugin directory" }
  ])
)
