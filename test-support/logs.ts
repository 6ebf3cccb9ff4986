/** A logger for tests that look at what reached the Effect logger. */
import { Layer, Logger, References } from "effect"

export interface CapturedLine {
  readonly message: string
  readonly level: string
  readonly annotations: Record<string, unknown>
}

/** A logger that keeps every log entry (message, level, annotations) in `lines`. */
export const captureLogs = () => {
  const lines: Array<CapturedLine> = []
  const logger = Logger.make<unknown, void>(({ fiber, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ message: text, level: logLevel, annotations: { ...fiber.getRef(References.CurrentLogAnnotations) } })
  })
  const layer = Layer.mergeAll(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, "All"))
  return { lines, layer }
}
