/**
 * The `vmre` command and its subcommands `check` and `run`.
 *
 * Exit codes: 0 success, 1 the plugin failed (launch, handshake, or `run`'s plugin exited on
 * its own), 2 bad usage, 130 interrupted (except `vmre run`, whose normal end is a signal).
 */
import { type Errors, type LaunchConfig, Runtime, type VmInstance } from "@vmre/runtime"
import { Console, Effect, type LogLevel, Option, References, Runtime as EffectRuntime, Schema, type Scope } from "effect"
import { Command, Flag, GlobalFlag } from "effect/cli"
import * as path from "node:path"
import { launchFlags, toLaunchConfig } from "./LaunchFlags.ts"
import * as Report from "./Report.ts"

export const ExitCode = {
  ok: 0,
  pluginFailed: 1,
  usage: 2,
  interrupted: 130
} as const

/** The command has already told the user what went wrong: exit with `code`, print nothing more. */
export class Reported extends Schema.TaggedError<Reported>()("Reported", { code: Schema.Int }) {
  override get [EffectRuntime.errorExitCode]() {
    return this.code
  }
  override readonly [EffectRuntime.errorReported] = false
}

// SIGINT and SIGTERM interrupt the main fiber (NodeRuntime.runMain); the process then exits 130,
// except while `vmre run` has its plugin up, when a signal is the normal way to stop it.
let signalIsNormalStop = false

/** The exit code for a run ended by SIGINT/SIGTERM. */
export const exitCodeOnSignal = (): number => signalIsNormalStop ? ExitCode.ok : ExitCode.interrupted

/** The minimum level of the logs shown: `--log-level` if given, else `fallback`. */
const withLogLevel = (fallback: LogLevel.LogLevel) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const level = yield* GlobalFlag.LogLevel
    return yield* Effect.provideService(effect, References.MinimumLogLevel, Option.getOrElse(level, () => fallback))
  })

/**
 * A fact read from the live VM between the handshake and the stop, reported under `field`
 * (JSON key and text label). The ChainVM client's `Version` and `Health` RPCs go in
 * {@link probes}: `{ field: "version", run: (vm) => ... }`.
 */
export interface Probe {
  readonly field: string
  readonly run: (vm: VmInstance) => Effect.Effect<unknown, never, Scope.Scope>
}

export const probes: ReadonlyArray<Probe> = []

/** Launch, probe, stop (timed). */
export const checkPlugin = Effect.fn("checkPlugin")(function*(config: LaunchConfig, probes: ReadonlyArray<Probe>) {
  const runtime = yield* Runtime
  return yield* Effect.scoped(Effect.gen(function*() {
    const vm = yield* runtime.launch(config)
    const results = yield* Effect.forEach(probes, (probe) => Effect.map(probe.run(vm), (value) => [probe.field, value]))
    const [stopDuration, exit] = yield* Effect.timed(vm.stop)
    return { plugin: vm.path, vm, probes: Object.fromEntries(results), stopDuration, exit } satisfies Report.CheckPassed
  }))
})

const launchFailed = (error: Errors.LaunchError) =>
  Effect.andThen(Console.error(error.message), new Reported({ code: ExitCode.pluginFailed }))

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
    )
  },
  Effect.fn("vmre check")(function*(input) {
    const plugin = path.resolve(input.plugin)
    yield* checkPlugin(toLaunchConfig(input), probes).pipe(
      Effect.matchEffect({
        onSuccess: (report) =>
          Console.log(input.json ? JSON.stringify(Report.passedJson(report)) : Report.passedText(report)),
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
  Command.provide(Runtime.layer)
)

/** Keeps the plugin running until a signal (exit 0) or until it exits on its own (exit 1). */
const runPlugin = Effect.fn("runPlugin")(function*(config: LaunchConfig) {
  const runtime = yield* Runtime
  return yield* Effect.scoped(Effect.gen(function*() {
    const vm = yield* runtime.launch(config).pipe(Effect.catch(launchFailed))
    signalIsNormalStop = true
    yield* Console.error(Report.runningText(vm))
    yield* vm.exit.pipe(
      Effect.onInterrupt(() =>
        Effect.timed(vm.stop).pipe(
          Effect.flatMap(([stopDuration, exit]) => Console.error(Report.stoppedText(vm, exit, stopDuration)))
        )
      )
    )
    signalIsNormalStop = false
    // It exited on its own; stop only drains its last output.
    const exit = yield* vm.stop
    yield* Console.error(Report.exitedText(vm, exit, yield* vm.stderrTail))
    return yield* new Reported({ code: ExitCode.pluginFailed })
  }))
})

const run = Command.make(
  "run",
  launchFlags,
  Effect.fn("vmre run")(function*(input) {
    yield* runPlugin(toLaunchConfig(input)).pipe(withLogLevel("All"))
  })
).pipe(
  Command.withShortDescription("Launch a plugin and keep it running until Ctrl-C or SIGTERM"),
  Command.withDescription(
    "Launch a VM plugin and keep it running, its log lines on stderr, until Ctrl-C or SIGTERM " +
      "(then stop it: SIGTERM, grace period, SIGKILL; exit 0). Exit code 1 if it fails to start or exits on its own."
  ),
  Command.withExamples([
    { command: "vmre run ./build/myvm --env LOG_LEVEL=debug", description: "Run a plugin with an extra env var" }
  ]),
  Command.provide(Runtime.layer)
)

export const vmre = Command.make("vmre").pipe(
  Command.withDescription("Launch and check rpcchainvm VM plugins as avalanchego and luxd do"),
  Command.withSubcommands([check, run])
)
