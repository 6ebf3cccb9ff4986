/**
 * Supervision of long-lived VM plugins: relaunch a plugin that exits on its own, waiting
 * between attempts as a `Schedule` says, giving up after `maxRestarts` attempts in a row,
 * and starting the count over after a run that lasted `minUptime` (pm2's model, on Effect).
 */
import { Clock, Deferred, Duration, Effect, Exit, Metric, Schedule, Schema, Scope } from "effect"
import * as path from "node:path"
import { describeExit, type LaunchError } from "./Errors.ts"
import { Lifecycle, metrics } from "./Lifecycle.ts"
import { type LaunchConfig, type VmInstance, VmRuntime } from "./VmRuntime.ts"

export interface RestartPolicy {
  /** Delays between restarts. Default: 100 ms, doubling, at most 15 s. */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** Restarts allowed in a row, counting runs shorter than `minUptime` (default 5). */
  readonly maxRestarts?: number | undefined
  /** A run at least this long was healthy: the count and the schedule start over (default 10 seconds). */
  readonly minUptime?: Duration.Input | undefined
}

/** How one run is launched; the default is `VmRuntime.launch` (e.g. `ChainVm.launch` adds its stop sequence). */
export type Launcher = (config: LaunchConfig) => Effect.Effect<VmInstance, LaunchError, Scope.Scope>

export const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("100 millis"),
  Schedule.spaced("15 seconds")
])

/** The supervisor stopped relaunching: the plugin kept failing faster than `minUptime`. */
export class RestartsExhausted extends Schema.TaggedError<RestartsExhausted>()("RestartsExhausted", {
  name: Schema.String,
  restarts: Schema.Int,
  lastFailure: Schema.String
}) {
  override get message() {
    return `giving up on vm ${this.name} after ${this.restarts} restarts in a row; last failure: ${this.lastFailure}`
  }
}

export interface SupervisedVm {
  /** The running instance; waits while a restart is under way; fails once the supervisor gave up. */
  readonly current: Effect.Effect<VmInstance, RestartsExhausted>
  /** Restarts so far. */
  readonly restarts: Effect.Effect<number>
  /** Fails when the supervisor gives up; does not complete while it supervises. */
  readonly done: Effect.Effect<never, RestartsExhausted>
}

/**
 * Launches the plugin and relaunches it whenever it exits, until the scope closes. A failure
 * of the first launch fails at once: it is a configuration problem, not a crash.
 */
export const supervise = Effect.fn("Supervisor.supervise")(function*(
  config: LaunchConfig,
  policy: RestartPolicy = {},
  launcher?: Launcher
): Effect.fn.Return<SupervisedVm, LaunchError, Scope.Scope | VmRuntime | Lifecycle> {
  const runtime = yield* VmRuntime
  const launch = launcher ?? runtime.launch
  const lifecycle = yield* Lifecycle
  const parent = yield* Effect.scope
  const name = config.name ?? path.basename(config.path)
  const minUptime = Duration.toMillis(Duration.fromInputUnsafe(policy.minUptime ?? Duration.seconds(10)))
  const maxRestarts = policy.maxRestarts ?? 5
  const schedule = policy.schedule ?? defaultSchedule

  let current = yield* Deferred.make<VmInstance, RestartsExhausted>()
  const gaveUp = yield* Deferred.make<never, RestartsExhausted>()
  let restarts = 0

  // Each run has its own scope, closed when the run ends.
  const launchRun = Effect.gen(function*() {
    const scope = yield* Scope.fork(parent)
    const vm = yield* launch(config).pipe(
      Scope.provide(scope),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    yield* Deferred.succeed(current, vm)
    return { vm, scope, startedAt: yield* Clock.currentTimeMillis }
  })

  type Run = Effect.Success<typeof launchRun>
  const supervise = (firstRun: Run) => Effect.gen(function*() {
    let run = firstRun
    let step = yield* Schedule.toStepWithSleep(schedule)
    let inARow = 0
    while (true) {
      // Wait for the run to end, and say why it ended.
      const exit = yield* run.vm.exit
      const uptime = (yield* Clock.currentTimeMillis) - run.startedAt
      const tail = yield* run.vm.stderrTail
      yield* Scope.close(run.scope, Exit.void)
      let reason = describeExit(exit) + (tail.length === 0 ? "" : `; last stderr: ${tail[tail.length - 1]}`)
      if (uptime >= minUptime) {
        inARow = 0
        step = yield* Schedule.toStepWithSleep(schedule)
      }
      current = yield* Deferred.make<VmInstance, RestartsExhausted>()
      while (true) {
        const scheduled = inARow < maxRestarts && Exit.isSuccess(yield* Effect.exit(step(undefined)))
        if (!scheduled) {
          const exhausted = new RestartsExhausted({ name, restarts: inARow, lastFailure: reason })
          yield* lifecycle.publish({ _tag: "GaveUp", name, restarts: inARow, reason })
          yield* Deferred.fail(current, exhausted)
          return yield* exhausted
        }
        inARow++
        restarts++
        yield* Metric.update(metrics.restarts, 1)
        yield* lifecycle.publish({ _tag: "Restarting", name, attempt: inARow, reason })
        const relaunched = yield* Effect.result(launchRun)
        if (relaunched._tag === "Success") {
          run = relaunched.success
          break
        }
        reason = relaunched.failure.message
      }
    }
  })

  // The first launch happens here so that its failure reaches the caller.
  const first = yield* launchRun
  yield* supervise(first).pipe(
    Effect.catch((exhausted) => Deferred.fail(gaveUp, exhausted)),
    Effect.forkIn(parent)
  )

  return {
    current: Effect.suspend(() => Deferred.await(current)),
    restarts: Effect.sync(() => restarts),
    done: Deferred.await(gaveUp)
  }
})
