/**
 * vmre's logger: every log entry goes to stderr, so that stdout carries only reports.
 * `--log-format pretty` (the default): a plugin's output line (annotated `source: "plugin"`,
 * `vm`, `pid`, `stream` by the runtime) reads `[vm pid stream] LEVEL line`; vmre's own entries
 * read `vmre: LEVEL message`. `json` and `logfmt` write effect's structured formats, one entry a
 * line with its annotations, plus `traceId` and `spanId` when the entry was logged in a span,
 * for log collectors.
 */
import { Cause, Context, Layer, Logger, type LogLevel, Option, References, Tracer } from "effect"
import { Flag, GlobalFlag } from "effect/cli"
import { inspect } from "node:util"

const text = (part: unknown): string => typeof part === "string" ? part : inspect(part, { depth: 4 })

/**
 * Text a plugin wrote, made inert for a terminal: C0 and C1 control characters (ESC sequences
 * that clear the screen or set the title, a bare CR that overwrites vmre's own lines, NUL) and
 * DEL are shown as `\xNN`; tabs stay, and line breaks too where the text is several lines of
 * vmre's own (an error message quoting the plugin's stderr).
 */
export const escapeControls = (text: string, options: { readonly keepNewlines?: boolean } = {}): string =>
  text.replace(
    options.keepNewlines === true ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g : /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`
  )

/** One log entry as a line (or lines, when it carries a cause). */
export const formatEntry = (
  options: { readonly message: unknown; readonly logLevel: LogLevel.LogLevel; readonly cause: Cause.Cause<unknown> },
  annotations: Readonly<Record<string, unknown>>
): string => {
  const raw = Array.isArray(options.message) ? options.message.map(text).join(" ") : text(options.message)
  const message = escapeControls(raw, { keepNewlines: annotations.source !== "plugin" })
  const level = options.logLevel.toUpperCase()
  const head = annotations.source !== "plugin" ?
    `vmre: ${level} ${message}` :
    `[${annotations.vm} ${annotations.pid} ${annotations.stream}] ${level} ${message}`
  return options.cause.reasons.length === 0 ? head : `${head}\n${Cause.pretty(options.cause)}`
}

/** vmre's own format, each entry handed to `print` as one line (or several, with a cause). */
export const prettyLogger = (print: (line: string) => void) =>
  Logger.make((options) => print(formatEntry(options, options.fiber.getRef(References.CurrentLogAnnotations))))

export type LogFormat = "pretty" | "json" | "logfmt"

/** A logger of `format` whose lines go to `print` (stderr, below the status line). */
export const loggerFor = (format: LogFormat, print: (line: string) => void): Logger.Logger<unknown, void> =>
  format === "json" ?
    Logger.make((options) => {
      const entry = JSON.parse(Logger.formatJson.log(options)) as Record<string, unknown>
      print(JSON.stringify({ ...entry, ...traceIdsOf(options.fiber.context) }))
    }) :
    format === "logfmt" ?
    Logger.make((options) => {
      const ids = traceIdsOf(options.fiber.context)
      print(`${Logger.formatLogFmt.log(options)}${ids === undefined ? "" : ` traceId=${ids.traceId} spanId=${ids.spanId}`}`)
    }) :
    prettyLogger(print)

/** The trace and span of the entry's fiber, if it runs in one: what joins a log line to its trace. */
const traceIdsOf = (context: Context.Context<never>): { traceId: string; spanId: string } | undefined => {
  const span = Context.getOption(context, Tracer.ParentSpan)
  return Option.isSome(span) ? { traceId: span.value.traceId, spanId: span.value.spanId } : undefined
}

/** `--log-format pretty|json|logfmt`, for every subcommand. */
export const LogFormatFlag = GlobalFlag.Setting("log-format")({
  flag: Flag.Literals("log-format", ["pretty", "json", "logfmt"]).pipe(
    Flag.withDescription("How log lines are written to stderr: pretty (default), json or logfmt, one entry a line"),
    Flag.withDefault("pretty" as LogFormat)
  )
})

/** Replaces the default logger, which writes to stdout. */
export const layer = (print: (line: string) => void): Layer.Layer<never> => Logger.layer([prettyLogger(print)])
