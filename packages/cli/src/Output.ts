/** How commands talk to the person at the terminal: reports on stdout, the rest on stderr. */
import { Console, Effect, Logger, type LogLevel, Option, References } from "effect"
import { GlobalFlag } from "effect/cli"
import * as Log from "./Log.ts"
import { StatusLine } from "./StatusLine.ts"

/** Human-readable text on stderr/stdout; what a plugin wrote in it cannot drive the terminal. */
export const tell = (text: string) => Console.error(Log.escapeControls(text, { keepNewlines: true }))
export const print = (text: string) => Console.log(Log.escapeControls(text, { keepNewlines: true }))

/**
 * The logs shown: at least `--log-level` if given, else `fallback`, written in `--log-format`.
 */
export const withLogLevel = (fallback: LogLevel.LogLevel) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const level = yield* GlobalFlag.LogLevel
    const format = yield* Log.LogFormatFlag
    const status = yield* StatusLine
    return yield* effect.pipe(
      Effect.provideService(References.MinimumLogLevel, Option.getOrElse(level, () => fallback)),
      Effect.provide(Logger.layer([Log.loggerFor(format, status.print)]))
    )
  })

