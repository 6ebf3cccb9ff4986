/**
 * Entry points of plugin executables.
 *
 * - {@link runMain}: runs a program until SIGINT/SIGTERM (a graceful stop: exit 0); on
 *   failure prints the error's message (not a stack trace) to stderr and exits 1, as Go
 *   plugins do.
 * - {@link runWithLifecycle}: the upstream rpcchainvm signal behaviour for VM plugins. SIGINT and
 *   SIGTERM are ignored until the program says the node has called Shutdown (so that a
 *   cgroup-wide SIGTERM from systemd cannot kill a VM behind the node's back); after that,
 *   SIGTERM stops the program gracefully and the process exits 0. The process also exits
 *   when its parent (the node) is gone, and never hangs on exit: a stop that takes longer
 *   than a bound ends with `process.exit`.
 */
// The module itself, not the package index (which loads every platform module: ~350 ms of
// startup that a plugin spends before its handshake).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { WireErrors } from "@vmre/wire"
import { Cause, Duration, Effect, Exit, type Fiber } from "effect"
import * as v8 from "node:v8"

/**
 * Calls `main` now or, while a start-up snapshot is being built (`vmre pack`), in each process
 * started from it: the snapshot holds the evaluated code; the work, the environment it reads,
 * its signal handlers and sockets belong to the process.
 */
const atProcessStart = (main: () => void): void => {
  if (v8.startupSnapshot.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(main)
  else main()
}

export const runMain = <E>(program: Effect.Effect<unknown, E>): void =>
  atProcessStart(() =>
    NodeRuntime.runMain(
      program.pipe(
        Effect.tapCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => {
            process.stderr.write(`${WireErrors.messageOf(Cause.squash(cause))}\n`)
          })
        )
      ),
      {
        disableErrorReporting: true,
        teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
      }
    )
  )

/** Handed to the program of {@link runWithLifecycle}. */
export interface PluginLifecycle {
  /** From now on SIGTERM stops the plugin (call it when the Shutdown RPC arrives). */
  readonly allowStop: () => void
  /**
   * SIGTERM stops the plugin whenever `predicate` holds (checked synchronously when the
   * signal arrives, e.g. "the Shutdown RPC has been received").
   */
  readonly allowStopWhen: (predicate: () => boolean) => void
  /** Stops the plugin as SIGTERM after Shutdown does (exit 0). */
  readonly stop: (reason: string) => void
}

export interface LifecycleOptions {
  /** How often the parent process is checked. Default 500 ms; zero disables the check. */
  readonly parentCheckInterval?: Duration.Input
  /** Bound on a graceful stop, after which the process exits anyway. Default 5 seconds. */
  readonly stopTimeout?: Duration.Input
  /** Where the lifecycle's messages go. Default: stderr. */
  readonly log?: (line: string) => void
}

/** Whether a process with this pid exists (signal 0 probes without signalling it). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Runs a VM plugin program with the upstream signal behaviour (see the module doc).
 * Exit codes: 0 after a stop (SIGTERM after Shutdown, parent gone, `lifecycle.stop`) or when
 * the program ends; 1 with the error's message on stderr when it fails.
 */
export const runWithLifecycle = <E>(
  program: (lifecycle: PluginLifecycle) => Effect.Effect<unknown, E>,
  options: LifecycleOptions = {}
): void => atProcessStart(() => runLifecycleNow(program, options))

const runLifecycleNow = <E>(
  program: (lifecycle: PluginLifecycle) => Effect.Effect<unknown, E>,
  options: LifecycleOptions
): void => {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const stopTimeoutMillis = Duration.toMillis(options.stopTimeout ?? Duration.seconds(5))
  const parentCheckMillis = Duration.toMillis(options.parentCheckInterval ?? Duration.millis(500))
  let stopAllowed: () => boolean = () => false
  let stopping = false
  let fiber: Fiber.Fiber<unknown, E> | undefined

  const stop = (reason: string) => {
    if (stopping) return
    stopping = true
    log(`runtime engine: stopping: ${reason}`)
    setTimeout(() => {
      log(`runtime engine: the stop took longer than ${stopTimeoutMillis} ms; exiting`)
      process.exit(0)
    }, stopTimeoutMillis).unref()
    fiber?.interruptUnsafe(fiber.id)
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopAllowed()) {
      log(`runtime engine: ignoring signal: ${signal} (the node has not called Shutdown)`)
    } else if (signal === "SIGTERM") {
      stop("received shutdown signal SIGTERM")
    } else {
      log(`runtime engine: ignoring signal: ${signal}`)
    }
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)

  // The node gone (its child is re-parented, or the pid no longer exists): nobody will ever
  // call Shutdown, so stop now instead of living on as an orphan.
  const parent = process.ppid
  const parentCheck = parentCheckMillis > 0 && parent > 1
    ? setInterval(() => {
      if (process.ppid !== parent || !isAlive(parent)) stop(`the parent process ${parent} is gone`)
    }, parentCheckMillis)
    : undefined
  parentCheck?.unref()

  fiber = Effect.runFork(program({
    allowStop: () => {
      stopAllowed = () => true
    },
    allowStopWhen: (predicate) => {
      stopAllowed = predicate
    },
    stop
  }))
  fiber.addObserver((exit) => {
    if (parentCheck !== undefined) clearInterval(parentCheck)
    let code = 0
    if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
      log(WireErrors.messageOf(Cause.squash(exit.cause)))
      code = 1
    }
    process.exit(code)
  })
}
