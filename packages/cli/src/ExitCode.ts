/**
 * How the `vmre` process ends: 0 success, 1 the plugin failed (launch, handshake, or `run`'s
 * plugin exited on its own; a pack that failed), 2 bad usage, 130 interrupted.
 */
import { Runtime, Schema } from "effect"

export const ExitCode = {
  ok: 0,
  pluginFailed: 1,
  usage: 2,
  interrupted: 130
} as const

/** The command has already told the user what went wrong: exit with `code`, print nothing more. */
export class Reported extends Schema.TaggedError<Reported>()("Reported", { code: Schema.Int }) {
  override get [Runtime.errorExitCode]() {
    return this.code
  }
  override readonly [Runtime.errorReported] = false
}
