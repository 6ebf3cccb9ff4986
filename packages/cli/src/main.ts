/**
 * The entry of the `vmre` command, run by bin/vmre.js once it has checked the Node version.
 * Reports go to stdout, everything else (logs, usage errors, failures) to stderr.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer, Runtime } from "effect"
import { CliConfig, CliError, CliOutput, Command, GlobalFlag } from "effect/cli"
import { readFileSync } from "node:fs"
import { exitCodeOnSignal, vmre } from "./Cli.ts"
import { ExitCode, Reported } from "./ExitCode.ts"
import * as PluginArgv from "./PluginArgv.ts"
import * as Log from "./Log.ts"
import { SignalStop } from "./SignalStop.ts"
import { StatusLine } from "./StatusLine.ts"

const signalStop = SignalStop.make()
const statusLine = StatusLine.make(process.stderr)

// From src/ in the repository and from dist/ once installed, the package root is one level up.
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }

// Usage errors go to stderr with a pointer to the help, not the whole help on stdout.
const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation" ?
      Effect.gen(function*() {
        const formatter = yield* CliOutput.Formatter
        yield* Console.error(`${formatter.formatErrors(event.errors)}\nSee: ${event.commandPath.join(" ")} --help`)
      }) :
      CliOutput.defaultPresenter.present(event)
}

// Once the command is done, nothing of vmre's may keep the process alive: a process that
// escaped the plugin's group (setsid) can hold the plugin's output pipes open for as long as it
// lives, and the runtime stops reading them after its drain bound. Whatever still holds the
// event loop a second after the end (time for stdout to flush) does not hold the exit.
const LINGER_MILLIS = 1_000
const exitAfterLinger = (code: number) => setTimeout(() => process.exit(code), LINGER_MILLIS).unref()

const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return ExitCode.ok
  if (Cause.hasInterruptsOnly(exit.cause)) return exitCodeOnSignal(signalStop)
  const error = Cause.squash(exit.cause)
  if (CliError.isCliError(error)) return error._tag === "ShowHelp" && error.errors.length === 0 ? ExitCode.ok : ExitCode.usage
  return Runtime.getErrorExitCode(error)
}

const teardown: Runtime.Teardown = (exit, onExit) => {
  const code = exitCodeOf(exit)
  const lost = statusLine.dropped()
  if (lost > 0) process.stderr.write(`vmre: WARN ${lost} log line(s) dropped: stderr was not read fast enough\n`)
  exitAfterLinger(code)
  // On a signal onExit exits at once: what is still queued for a slow stderr reader (the count
  // above included) is written first, within the linger bound.
  if (process.stderr.writableLength === 0) onExit(code)
  else process.stderr.write("", () => onExit(code))
}

Command.runWith(vmre, { version })(PluginArgv.separate(process.argv.slice(2))).pipe(
  // A bad VMRE_* environment variable (read by the runtime's config) is bad usage.
  Effect.catchTag("ConfigError", (error) =>
    Effect.andThen(
      Console.error(`vmre: invalid configuration: ${error.cause.message.replaceAll("\n ", "")}`),
      new Reported({ code: ExitCode.usage })
    )),
  Effect.provide(Layer.mergeAll(
    Log.layer(statusLine.print),
    Layer.succeed(SignalStop, signalStop),
    Layer.succeed(StatusLine, statusLine),
    CliOutput.layerPresenter(presenter),
    // The interactive --wizard makes no sense for a tool that starts processes.
    CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions, GlobalFlag.LogLevel] })
  )),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ teardown })
)
