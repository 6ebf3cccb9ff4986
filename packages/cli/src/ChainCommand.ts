/**
 * `vmre chain PLUGIN`: a one-node dev chain. The plugin is registered (probe), started for a
 * dev chain by the factory, and the chain runs as a single validator: the VM's build signal →
 * BuildBlock → BlockVerify → SetPreference → BlockAccept. A VM that dies is relaunched and
 * the chain goes on from its last accepted block. `--db DIR` keeps the chain across runs.
 * Ctrl-C stops cleanly (exit 0) and prints the summary.
 */
import { Chain, type ChainStatus, HttpGateway, NodeConfig, NodeDatabase, NodeServices, VmFactory, VmRegistry } from "@vmre/node"
import { Attach, type ChainVmAttachConfig, type ChainVmConfig, Durations, Lifecycle, VmMetrics, VmRuntime } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Clock, Console, Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import { Argument, Flag } from "effect/cli"
import { Command } from "effect/cli"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ExitCode, Reported } from "./ExitCode.ts"
import { launchOptionFlags, toLaunchOptions } from "./LaunchFlags.ts"
import { httpFlag, type ListenAddress, metricsFlag } from "./ListenFlags.ts"
import { print, tell, withLogLevel } from "./Output.ts"
import { SignalStop } from "./SignalStop.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)

/** The VM ID of a plugin file: its name if that is a CB58 VM ID, else one derived from the name. */
export const devVmId = (plugin: string): string => {
  const name = path.basename(plugin).replace(/\.[^.]*$/, "")
  return Ids.idFromString(name) !== undefined ? name : Ids.toString(Ids.sha256(utf8(`vmre dev vm ${name}`)))
}

/** The dev chain of a VM: the same id every run, so that `--db` resumes it. */
export const devChainId = (vmId: string): Ids.Id => Ids.Id.make(Ids.sha256(utf8(`vmre dev chain ${vmId}`)))

/** The bytes of the file a flag names (empty without one); an unreadable file is bad usage. */
export const readBytes = (flag: string, file: Option.Option<string>) =>
  Option.match(file, {
    onNone: () => Effect.succeed(new Uint8Array(0)),
    onSome: (name) =>
      Effect.try({
        try: () => new Uint8Array(fs.readFileSync(name)),
        catch: (error) => error
      }).pipe(
        Effect.catch((error) =>
          Effect.andThen(tell(`vmre: cannot read --${flag} ${name}: ${String(error)}`), new Reported({ code: ExitCode.usage }))
        )
      )
  })

const ms = (millis: number) => `${millis < 10 ? millis.toFixed(1) : millis.toFixed(0)} ms`

export const summaryJson = (status: ChainStatus) => ({
  height: Number(status.height),
  lastAccepted: status.lastAccepted,
  blocksAccepted: status.blocksAccepted,
  restarts: status.restarts
})

/** The flags of a dev chain, for `vmre chain` and `vmre attach` (genesis and config also for `check --initialize`). */
export const devChainFlags = {
  genesis: Flag.String("genesis").pipe(Flag.withMetavar("FILE"), Flag.withDescription("Genesis bytes of the chain"), Flag.optional),
  config: Flag.String("config").pipe(Flag.withMetavar("FILE"), Flag.withDescription("Config bytes for the VM"), Flag.optional),
  db: Flag.String("db").pipe(
    Flag.withMetavar("DIR"),
    Flag.withDescription("Keep the chain's database and data dir in DIR, to resume it in a later run (default: in memory)"),
    Flag.optional
  ),
  untilHeight: Flag.Int("until-height").pipe(
    Flag.withMetavar("H"),
    Flag.withDescription("Stop once the block at height H is accepted (default: run until Ctrl-C)"),
    Flag.filterMap((h) => (h >= 1 ? Option.some(h) : Option.none()), () => "a height of at least 1"),
    Flag.optional
  ),
  http: httpFlag,
  metrics: metricsFlag,
  json: Flag.Boolean("json").pipe(
    Flag.withDescription(
      "Progress on stderr; the last stdout line is one JSON object {height, lastAccepted, blocksAccepted, restarts}"
    ),
    Flag.withDefault(false)
  ),
  verbose: Flag.Boolean("verbose").pipe(
    Flag.withDescription("Show every line the plugin writes (by default only its warnings and errors)"),
    Flag.withDefault(false)
  )
} as const

const listenFailed = (error: { readonly message: string }) =>
  Effect.andThen(tell(`vmre: ${error.message}`), new Reported({ code: ExitCode.usage }))

interface DevChainInput {
  readonly genesis: Option.Option<string>
  readonly config: Option.Option<string>
  readonly db: Option.Option<string>
  readonly untilHeight: Option.Option<number>
  readonly http: Option.Option<ListenAddress>
  readonly metrics: Option.Option<ListenAddress>
  readonly json: boolean
  readonly verbose: boolean
}

/** Where the chain's VM comes from: a plugin file launched, or a plugin attached at an address. */
type VmSource =
  | { readonly _tag: "Plugin"; readonly path: string; readonly launch: Omit<ChainVmConfig, "path" | "name"> }
  | { readonly _tag: "Attach"; readonly attach: Omit<ChainVmAttachConfig, "name"> }

/** Runs a one-node dev chain until `--until-height`, Ctrl-C, or a failure (exit 1). */
const devChain = Effect.fn("devChain")(function*(input: DevChainInput, source: VmSource) {
  const vmId = source._tag === "Plugin" ? devVmId(source.path) : devVmId(`attached ${source.attach.listen}`)
  const chainId = devChainId(vmId)
  const genesis = yield* readBytes("genesis", input.genesis)
  const config = yield* readBytes("config", input.config)
  const dbDir = Option.map(input.db, (dir) => path.resolve(dir))
  const dataRoot = Option.getOrElse(dbDir, () => fs.mkdtempSync(path.join(os.tmpdir(), "vmre-chain-")))
  const say = input.json ? tell : print
  const signalStop = yield* SignalStop

  const nodeLayer = (source._tag === "Plugin" ?
    VmFactory.layer({ launch: source.launch }).pipe(
      Layer.provideMerge(VmRegistry.layer({ plugins: [{ vmId, path: source.path }], launch: source.launch }))
    ) :
    VmFactory.layer({ attach: source.attach }).pipe(Layer.provideMerge(VmRegistry.layerTest([])))).pipe(
    Layer.provideMerge(NodeServices.layerSingleNode),
    Layer.provideMerge(Option.match(input.http, {
      onNone: () => Layer.empty,
      onSome: (address) => HttpGateway.layerListen(address)
    })),
    Layer.provideMerge(Option.match(input.metrics, {
      onNone: () => Layer.empty,
      onSome: (address) => VmMetrics.layerListen(address)
    })),
    Layer.provideMerge(VmRuntime.layer),
    Layer.provideMerge(Option.isSome(dbDir) ? NodeDatabase.layerLevel(path.join(dataRoot, "db")) : NodeDatabase.layerMemory),
    Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: path.join(dataRoot, "chainData") }))
  )

  const program = Effect.gen(function*() {
    const registered = yield* (yield* VmRegistry).report
    const metricsUrl = Option.getOrUndefined(yield* Effect.serviceOption(VmMetrics))?.url
    const failure = registered.failed[0]
    if (failure !== undefined) {
      return yield* Effect.andThen(tell(failure.detail), new Reported({ code: ExitCode.pluginFailed }))
    }
    yield* say(
      (source._tag === "Plugin" ?
        `vmre chain: ${source.path} (VM ${vmId}, ${registered.registered[0]?.version ?? "?"})\n` :
        `vmre attach: waiting at ${source.attach.listen} for a plugin started with VM_RUNTIME_ENGINE_ADDR=${source.attach.listen}\n`) +
        `  chain     ${Ids.toString(chainId)}\n` +
        `  database  ${Option.isSome(dbDir) ? `${dataRoot} (kept)` : "in memory, this run only (--db DIR keeps it)"}` +
        (metricsUrl === undefined ? "" : `\n  metrics   ${metricsUrl}`)
    )
    let status: ChainStatus | undefined
    // The chain's API is printed once, at its first mount (each relaunch mounts it again).
    let apiShown = false
    const gatewayUrl = Option.getOrUndefined(yield* Effect.serviceOption(HttpGateway))?.url
    const lifecycle = yield* Lifecycle
    yield* lifecycle.events.pipe(
      Stream.runForEach((event) => {
        switch (event._tag) {
          case "BlockAccepted":
            return say(
              `height ${String(event.height).padStart(6)}  ${event.id}  ` +
                (event.millis > 0 ? ms(event.millis) : "(accepted before the VM died)")
            )
          case "Restarting":
            return tell(`vmre: the VM died (${event.reason}); relaunching it (restart ${event.attempt} in a row)`)
          case "ChainResumed":
            return tell(`vmre: the chain resumed at height ${event.height}`)
          case "ChainApi":
            if (apiShown || gatewayUrl === undefined) return Effect.void
            apiShown = true
            return say(
              event.paths.length === 0 ?
                `  api       none (the VM returned no HTTP handlers)` :
                event.paths.map((p, i) => `  ${i === 0 ? "api      " : "         "} ${gatewayUrl}${p}`).join("\n")
            )
          default:
            return Effect.void
        }
      }),
      Effect.forkScoped
    )
    const scope = yield* Scope.make()
    const started = yield* Clock.currentTimeMillis
    const running = yield* Chain.run({
      chainId,
      vm: vmId,
      genesis,
      config,
      name: "dev",
      untilHeight: Option.getOrUndefined(Option.map(input.untilHeight, BigInt))
    }).pipe(
      Scope.provide(scope),
      Effect.onError(() => Scope.close(scope, Exit.void)),
      Effect.catch((error) => Effect.andThen(tell(error.message), new Reported({ code: ExitCode.pluginFailed })))
    )
    status = yield* running.status
    yield* say(`starting at height ${status.height}${status.height === 0n ? " (a new chain)" : ""}`)
    const summary = Effect.gen(function*() {
      yield* Scope.close(scope, Exit.void)
      const final = status ?? (yield* running.status)
      const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
      yield* say(
        `summary: height ${final.height}, last accepted ${final.lastAccepted}, ${final.blocksAccepted} block(s) ` +
          `accepted in ${seconds.toFixed(1)} s, ${final.restarts} restart(s)`
      )
      if (input.json) yield* Console.log(JSON.stringify(summaryJson(final)))
    })
    yield* signalStop.set(true)
    const outcome = yield* running.done.pipe(
      Effect.tap(() => Effect.flatMap(running.status, (s) => Effect.sync(() => (status = s)))),
      Effect.result,
      Effect.onInterrupt(() => Effect.andThen(Effect.flatMap(running.status, (s) => Effect.sync(() => (status = s))), summary))
    )
    yield* signalStop.set(false)
    status = yield* running.status
    yield* summary
    if (outcome._tag === "Failure") {
      yield* tell(outcome.failure.message)
      return yield* new Reported({ code: ExitCode.pluginFailed })
    }
  })

  yield* program.pipe(
    Effect.scoped,
    Effect.provide(nodeLayer),
    // A taken --http or --metrics address is bad usage, said as such.
    Effect.catchTags({ MetricsListenError: listenFailed, GatewayListenError: listenFailed }),
    Effect.catchTag("DatabaseFailure", (error) =>
      Effect.andThen(tell(`vmre: cannot open the database in ${dataRoot}: ${error.message}`), new Reported({ code: ExitCode.usage }))),
    withLogLevel(input.verbose ? "All" : "Warn"),
    Effect.ensuring(Option.isNone(dbDir) ? Effect.sync(() => fs.rmSync(dataRoot, { recursive: true, force: true })) : Effect.void)
  )
})

export const chain = Command.make(
  "chain",
  {
    plugin: Argument.String("plugin").pipe(
      Argument.withMetavar("PATH"),
      Argument.withDescription("Path of the VM plugin executable")
    ),
    args: Argument.String("args").pipe(
      Argument.withMetavar("ARG"),
      Argument.withDescription("Arguments for the plugin (put them after -- if they start with -)"),
      Argument.variadic()
    ),
    ...devChainFlags,
    ...(({ handshakeOnly: _, ...flags }) => flags)(launchOptionFlags)
  },
  Effect.fn("vmre chain")(function*(input) {
    yield* devChain(input, {
      _tag: "Plugin",
      path: path.resolve(input.plugin),
      launch: { ...toLaunchOptions({ ...input, handshakeOnly: false }), args: input.args }
    })
  })
).pipe(
  Command.withShortDescription("Run a one-node dev chain on a VM plugin"),
  Command.withDescription(
    "Run a one-node dev chain on a VM plugin: the node's registry, factory and chain, with this process as the " +
      "only validator. Shows each accepted block; relaunches a VM that dies and goes on from the last accepted " +
      "block. Ctrl-C stops it cleanly (exit 0). Exit code 1 if the VM fails to start or the chain halts."
  ),
  Command.withExamples([
    { command: "vmre chain ./build/myvm", description: "A throwaway chain in memory" },
    { command: "vmre chain ./build/myvm --db ./devchain --genesis genesis.json", description: "Keep the chain; run again to resume it" },
    { command: "vmre chain ./build/myvm --until-height 10 --json", description: "Ten blocks, then one JSON line" },
    { command: "vmre chain ./build/myvm --http 127.0.0.1:9650", description: "With the VM's HTTP API at http://127.0.0.1:9650/ext/bc/<chain>/..." }
  ])
)

export const attach = Command.make(
  "attach",
  {
    listen: Flag.String("listen").pipe(
      Flag.withMetavar("HOST:PORT"),
      Flag.withDescription("The engine address to wait at; start the plugin with VM_RUNTIME_ENGINE_ADDR=HOST:PORT"),
      Flag.filterMap(
        (text) => Option.fromNullishOr(Attach.parseListenAddress(text) === undefined ? undefined : text),
        () => "HOST:PORT, e.g. 127.0.0.1:9650"
      )
    ),
    protocol: launchOptionFlags.protocol,
    handshakeTimeout: Flag.String("handshake-timeout").pipe(
      Flag.withMetavar("DURATION"),
      Flag.withDescription("How long to wait for the plugin to be started and call Initialize (default 10m)"),
      Flag.filterMap(Durations.parse, () => Durations.HINT),
      Flag.optional
    ),
    ...devChainFlags
  },
  Effect.fn("vmre attach")(function*(input) {
    yield* devChain(input, {
      _tag: "Attach",
      attach: {
        listen: input.listen,
        protocolVersion: Option.getOrUndefined(input.protocol),
        handshakeTimeout: Option.getOrUndefined(input.handshakeTimeout)
      }
    })
  })
).pipe(
  Command.withShortDescription("Run a dev chain on a plugin started by hand (e.g. under a debugger)"),
  Command.withDescription(
    "Attach mode: listen at HOST:PORT and wait for a VM plugin that you start yourself (under a debugger, " +
      "with VM_RUNTIME_ENGINE_ADDR=HOST:PORT) to call Initialize; then run a dev chain on it as `vmre chain` " +
      "does. vmre never signals the plugin: stopping is the Shutdown call only. If the plugin goes away, vmre " +
      "waits at HOST:PORT again and the chain resumes when you restart it."
  ),
  Command.withExamples([
    { command: "vmre attach --listen 127.0.0.1:9650", description: "Then: VM_RUNTIME_ENGINE_ADDR=127.0.0.1:9650 dlv exec ./myvm" }
  ])
)
