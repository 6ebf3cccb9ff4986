/**
 * Entry point of a plugin executable: runs the plugin program until SIGINT/SIGTERM (a
 * graceful stop: exit 0), and on failure prints the error's message (not a stack trace) to
 * stderr and exits 1, as Go plugins do.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"

export const runMain = <E>(program: Effect.Effect<unknown, E>): void =>
  NodeRuntime.runMain(
    program.pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => {
          const error = Cause.squash(cause)
          process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
        })
      )
    ),
    {
      disableErrorReporting: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
    }
  )
