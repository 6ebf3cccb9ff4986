/** One line of plugin output, as the pipeline emits it. */
import type { LogLevel } from "effect"

/** Which of the plugin's output pipes a line came from. */
export type OutputStream = "stdout" | "stderr"

/** One line of plugin output with its detected level. */
export interface LogRecord {
  readonly stream: OutputStream
  readonly line: string
  readonly level: LogLevel.Severity
}
