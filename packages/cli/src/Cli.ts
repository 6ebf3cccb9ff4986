/**
 * The `vmre` command and its subcommands `check` and `run`.
 *
 * Exit codes: 0 success, 1 the plugin failed (launch, handshake, or `run`'s plugin exited on
 * its own), 2 bad usage, 130 interrupted (except `vmre run`, whose normal end is a signal).
 */
import { ChainVm, type ChainVmConfig, Checksum, Durations, type Errors, type LaunchConfig, Lifecycle, Supervisor, type VmInstance, VmMetrics, VmRuntime } from "@vmre/runtime"
import { Console, Context, Duration, Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type CreateError, NodeConfig, NodeDatabase, NodeServices, VmFactory, VmRegistry } from "@vmre/node"
import type { GrpcServer } from "@vmre/transport"
import { Ids } from "@vmre/wire"
import { launchFlags, toLaunchConfig } from "./LaunchFlags.ts"
import { metricsFlag } from "./ListenFlags.ts"
import * as Log from "./Log.ts"
import { print, tell, withLogLevel } from "./Output.ts"
import { ExitCode, Reported } from "./ExitCode.ts"
import { attach, chain, devChainFlags, devChainId, devVmId, readBytes } from "./ChainCommand.ts"
import { pack } from "./PackCommand.ts"
import { registry } from "./RegistryCommand.ts"
import * as Report from "./Report.ts"
import { SignalStop, type SignalStopState } from "./SignalStop.ts"
import { whileWaiting } from "./StatusLine.ts"

/** The exit code for a run ended by SIGINT/SIGTERM. */
export const exitCodeOnSignal = (signalStop: SignalStopState): number =>
  Effect.runSync(signalStop.isNormalStop) ? ExitCode.ok : ExitCode.interrupted

type Launcher = Supervisor.Launcher

/**
 * How a plugin is started: by default through `ChainVm.launch`, whose stop sequence calls
 * `vm.VM/Shutdown` before SIGTERM as the Go nodes do; `--handshake-only` skips vm.VM entirely.
 */
const launcherFor = (handshakeOnly: boolean) =>
  Effect.map(VmRuntime, (runtime): Launcher =>
    handshakeOnly ? runtime.launch : (config) =>
      ChainVm.launch(config).pipe(Effect.map(({ vm }) => vm), Effect.provideService(VmRuntime, runtime)))

/** How the plugin ended, as far as it is known once its scope has closed (the stop is bounded). */
const exitOf = (vm: VmInstance) =>
  Effect.map(vm.exitStatus, Option.getOrElse((): Errors.ProcessExit => ({ code: null, signal: "SIGKILL" })))

export type CheckError = Errors.LaunchError | Errors.VmCallError | CreateError | GrpcServer.ServerListenError

/** The status lines of the two waits a user may wonder about. */
const waitingForHandshake = (config: LaunchConfig) =>
  whileWaiting(
    `waiting for ${path.basename(config.path)} to call Initialize` +
      (config.handshakeTimeout === undefined ? "…" : ` (at most ${Duration.format(Duration.fromInputUnsafe(config.handshakeTimeout))})…`)
  )
const waitingForStop = (vm: VmInstance) =>
  whileWaiting(`stopping ${vm.name} (pid ${vm.pid}): waiting for it to exit (SIGKILL after the grace period)…`)

/**
 * Launch, ask `Version` and `Health` as a node does at registration (a plugin that cannot
 * answer `Version` fails the check; `Health` is reported either way), then stop it through
 * the full stop sequence, timed.
 */
export const checkPlugin = Effect.fn("checkPlugin")(function*(
  config: ChainVmConfig,
  options: {
    readonly handshakeOnly: boolean
    readonly sha256: boolean
    /** Also `Initialize` it, with an in-memory database and a single node's services. */
    readonly initialize?: { readonly genesis: Uint8Array; readonly config: Uint8Array } | undefined
  }
) {
  const facts: Record<string, unknown> = {}
  if (options.sha256) facts.sha256 = yield* Checksum.sha256(path.resolve(config.path))
  const scope = yield* Scope.make()
  return yield* Effect.gen(function*() {
    let vm: VmInstance
    if (options.initialize !== undefined) {
      const initialized = yield* initializeCheck(config, options.initialize, scope).pipe(waitingForHandshake(config))
      vm = initialized.vm
      facts.version = yield* initialized.client.version()
      facts.initialize = {
        height: Number(initialized.lastAccepted.height),
        lastAccepted: Ids.toString(initialized.lastAccepted.id)
      }
      const health = yield* Effect.result(initialized.client.health())
      if (health._tag === "Success") facts.health = health.success
      else facts.healthError = health.failure.message
    } else if (options.handshakeOnly) {
      vm = yield* (yield* launcherFor(true))(config).pipe(Scope.provide(scope), waitingForHandshake(config))
    } else {
      const launched = yield* ChainVm.launch(config).pipe(Scope.provide(scope), waitingForHandshake(config))
      vm = launched.vm
      facts.version = yield* launched.client.version()
      const health = yield* Effect.result(launched.client.health())
      if (health._tag === "Success") facts.health = health.success
      else facts.healthError = health.failure.message
    }
    const [stopDuration] = yield* Effect.timed(Scope.close(scope, Exit.void)).pipe(waitingForStop(vm))
    const exit = yield* exitOf(vm)
    const groupOutlivedPlugin = yield* vm.groupOutlivedPlugin
    return { plugin: vm.path, vm, probes: facts, stopDuration, exit, groupOutlivedPlugin } satisfies Report.CheckPassed
  }).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
})

/**
 * A node's chain creation in small: the plugin launched by the factory for a dev chain and
 * initialized with an in-memory database and a single node's services at `server_addr`; all
 * of it belongs to `scope`.
 */
const initializeCheck = (
  config: LaunchConfig,
  chain: { readonly genesis: Uint8Array; readonly config: Uint8Array },
  scope: Scope.Scope
) =>
  Effect.gen(function*() {
    const runtime = yield* VmRuntime
    const lifecycle = yield* Lifecycle
    const pluginPath = path.resolve(config.path)
    const vmId = devVmId(pluginPath)
    const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), "vmre-check-"))
    yield* Scope.addFinalizer(scope, Effect.sync(() => fs.rmSync(dataRoot, { recursive: true, force: true })))
    const { path: _, name, ...launch } = config
    const node = yield* Layer.buildWithScope(
      VmFactory.layer({ launch }).pipe(
        Layer.provideMerge(VmRegistry.layerTest([{ vmId, aliases: [], path: pluginPath, protocolVersion: 0, version: "" }])),
        Layer.provideMerge(NodeServices.layerSingleNode),
        Layer.provideMerge(NodeDatabase.layerMemory),
        Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: dataRoot })),
        Layer.provideMerge(Layer.succeedContext(Context.make(VmRuntime, runtime).pipe(Context.add(Lifecycle, lifecycle))))
      ),
      scope
    )
    const factory = Context.get(node, VmFactory)
    return yield* factory.create({
      chainId: devChainId(vmId),
      vm: vmId,
      name: name ?? path.basename(pluginPath),
      genesis: chain.genesis,
      config: chain.config
    }).pipe(Scope.provide(scope))
  })

const launchFailed = (error: CheckError | Errors.SpawnFailed) =>
  Effect.andThen(tell(error.message), new Reported({ code: ExitCode.pluginFailed }))

const check = Command.make(
  "check",
  {
    ...launchFlags,
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print one JSON object on stdout and nothing else (logs stay on stderr)"),
      Flag.withDefault(false)
    ),
    verbose: Flag.Boolean("verbose").pipe(
      Flag.withDescription("Show every line the plugin writes (by default only its warnings and errors)"),
      Flag.withDefault(false)
    ),
    sha256: Flag.Boolean("sha256").pipe(
      Flag.withDescription("Also print the SHA-256 of PLUGIN (the digest to pin with --expect-sha256)"),
      Flag.withDefault(false)
    ),
    initialize: Flag.Boolean("initialize").pipe(
      Flag.withDescription(
        "Also run Initialize, as a node creating a chain does: an in-memory database and a single node's " +
          "services at server_addr (aliases, validators, warp signer, app sender); then Health"
      ),
      Flag.withDefault(false)
    ),
    genesis: devChainFlags.genesis,
    config: devChainFlags.config
  },
  Effect.fn("vmre check")(function*(input) {
    const plugin = path.resolve(input.plugin)
    const initialize = input.initialize ?
      { genesis: yield* readBytes("genesis", input.genesis), config: yield* readBytes("config", input.config) } :
      undefined
    yield* checkPlugin(toLaunchConfig(input), { handshakeOnly: input.handshakeOnly, sha256: input.sha256, initialize }).pipe(
      Effect.matchEffect({
        onSuccess: (report) =>
          input.json ? Console.log(JSON.stringify(Report.passedJson(report))) : print(Report.passedText(report)),
        onFailure: (error) =>
          input.json ?
            Effect.andThen(
              Console.log(JSON.stringify(Report.failedJson(plugin, error))),
              new Reported({ code: ExitCode.pluginFailed })
            ) :
            launchFailed(error)
      }),
      withLogLevel(input.verbose ? "All" : "Warn")
    )
  })
).pipe(
  Command.withShortDescription("Launch a plugin, handshake, report, stop it"),
  Command.withDescription(
    "Launch a VM plugin, complete the rpcchainvm handshake, report it, and stop the plugin. " +
      "Exit code 0 if it handshook, 1 if not, 2 on bad usage."
  ),
  Command.withExamples([
    { command: "vmre check ./build/myvm", description: "Check a plugin binary" },
    { command: "vmre check --json --protocol 44 ./myvm", description: "Expect protocol 44; one JSON object on stdout" },
    { command: "vmre check ./myvm -- --config ./myvm.json", description: "Arguments after -- go to the plugin" }
  ]),
  Command.provide(VmRuntime.layer)
)

/** Keeps the plugin running until a signal (exit 0) or until it exits on its own (exit 1). */
const runPlugin = Effect.fn("runPlugin")(function*(config: LaunchConfig, handshakeOnly: boolean) {
  const launch = yield* launcherFor(handshakeOnly)
  const signalStop = yield* SignalStop
  const scope = yield* Scope.make()
  const vm = yield* launch(config).pipe(
    Scope.provide(scope),
    waitingForHandshake(config),
    Effect.onError(() => Scope.close(scope, Exit.void)),
    Effect.catch(launchFailed)
  )
  yield* signalStop.set(true)
  yield* tell(Report.runningText(vm))
  yield* vm.exit.pipe(
    Effect.onInterrupt(() =>
      Effect.gen(function*() {
        const [stopDuration] = yield* Effect.timed(Scope.close(scope, Exit.void)).pipe(waitingForStop(vm))
        yield* tell(Report.stoppedText(vm, yield* exitOf(vm), stopDuration))
      })
    )
  )
  yield* signalStop.set(false)
  // It exited on its own; closing its scope only drains its last output.
  yield* Scope.close(scope, Exit.void)
  yield* tell(Report.exitedText(vm, yield* exitOf(vm), yield* vm.stderrTail))
  return yield* new Reported({ code: ExitCode.pluginFailed })
})

/** Like {@link runPlugin}, relaunching the plugin when it exits, until the policy gives up (exit 1). */
const superviseRun = Effect.fn("superviseRun")(function*(
  config: LaunchConfig,
  handshakeOnly: boolean,
  policy: Supervisor.RestartPolicy
) {
  const lifecycle = yield* Lifecycle
  const signalStop = yield* SignalStop
  yield* lifecycle.events.pipe(
    Stream.runForEach((event) =>
      event._tag === "Restarting" ?
        tell(`vmre: ${event.name} ended (${event.reason}); restart ${event.attempt} in a row`) :
        event._tag === "Ready" ?
        Effect.flatMap(signalStop.isNormalStop, (running) =>
          running ? tell(`vmre: ${event.name} (pid ${event.pid}) is serving again at ${event.vmAddr}`) : Effect.void) :
        Effect.void
    ),
    Effect.forkScoped
  )
  const supervised = yield* Supervisor.supervise(config, policy, yield* launcherFor(handshakeOnly)).pipe(
    waitingForHandshake(config),
    Effect.catch(launchFailed)
  )
  yield* signalStop.set(true)
  yield* tell(Report.runningText(yield* supervised.current.pipe(Effect.orDie)))
  const gaveUp = yield* Effect.flip(supervised.done)
  yield* signalStop.set(false)
  yield* tell(`vmre: ${gaveUp.message}`)
  return yield* new Reported({ code: ExitCode.pluginFailed })
}, Effect.scoped)

const run = Command.make(
  "run",
  {
    ...launchFlags,
    restart: Flag.Boolean("restart").pipe(
      Flag.withDescription("Relaunch the plugin whenever it exits on its own (backoff from 100 ms to 15 s)"),
      Flag.withDefault(false)
    ),
    maxRestarts: Flag.Int("max-restarts").pipe(
      Flag.withMetavar("N"),
      Flag.withDescription("With --restart: give up after N restarts in a row of runs shorter than --min-uptime (default 5)"),
      Flag.optional
    ),
    minUptime: Flag.String("min-uptime").pipe(
      Flag.withMetavar("DURATION"),
      Flag.withDescription("With --restart: a run this long was healthy and resets the count (default 10s)"),
      Flag.filterMap(Durations.parse, () => Durations.HINT),
      Flag.optional
    ),
    metrics: metricsFlag
  },
  Effect.fn("vmre run")(function*(input) {
    const config = toLaunchConfig(input)
    const program = (input.restart ?
      superviseRun(config, input.handshakeOnly, {
        maxRestarts: Option.getOrUndefined(input.maxRestarts),
        minUptime: Option.getOrUndefined(input.minUptime)
      }) :
      runPlugin(config, input.handshakeOnly)).pipe(withLogLevel("All"))
    yield* Option.match(input.metrics, {
      onNone: () => program,
      onSome: (address) =>
        Effect.gen(function*() {
          yield* tell(`vmre: metrics at ${(yield* VmMetrics).url}`)
          return yield* program
        }).pipe(
          Effect.provide(VmMetrics.layerListen(address)),
          Effect.catchTag("MetricsListenError", (error) =>
            Effect.andThen(tell(`vmre: ${error.message}`), new Reported({ code: ExitCode.usage })))
        )
    })
  })
).pipe(
  Command.withShortDescription("Launch a plugin and keep it running until Ctrl-C or SIGTERM"),
  Command.withDescription(
    "Launch a VM plugin and keep it running, its log lines on stderr, until Ctrl-C or SIGTERM " +
      "(then stop it: SIGTERM, grace period, SIGKILL; exit 0). Exit code 1 if it fails to start or exits on its own."
  ),
  Command.withExamples([
    { command: "vmre run ./build/myvm --env LOG_LEVEL=debug", description: "Run a plugin with an extra env var" },
    { command: "vmre run --metrics 127.0.0.1:9090 ./build/myvm", description: "With Prometheus metrics at http://127.0.0.1:9090/metrics" }
  ]),
  Command.provide(VmRuntime.layer)
)

export const vmre = Command.make("vmre").pipe(
  Command.withDescription("Launch and check rpcchainvm VM plugins as avalanchego and luxd do"),
  Command.withSubcommands([check, run, registry, chain, attach, pack]),
  Command.withGlobalFlags([Log.LogFormatFlag])
)
