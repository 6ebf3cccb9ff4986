/**
 * A VM plugin as a child process: a scoped resource whose finalizer stops it (SIGTERM to
 * its process group, a grace period, SIGKILL) and always reaps it, and whose stdout and
 * stderr are read to their end line by line into the Effect logger.
 */
import { NodeServices } from "@effect/platform-node"
import { Context, Deferred, Duration, Effect, Fiber, Layer, Option, Scope, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { closeSync, openSync, writeSync } from "node:fs"
import * as Diagnose from "./Diagnose.ts"
import { Containment } from "./Containment.ts"
import { isAlive } from "./Liveness.ts"
import type * as ResourceLimits from "./ResourceLimits.ts"
import { OrphanGuard } from "./OrphanGuard.ts"
import type { ProcessExit, SpawnFailed } from "./Errors.ts"
import * as PluginLog from "./PluginLog.ts"

export interface ProcessSpec {
  /** Shown in every forwarded log line (`vm` annotation). */
  readonly name: string
  /** Absolute path of the plugin binary. */
  readonly path: string
  readonly args: ReadonlyArray<string>
  readonly cwd?: string | undefined
  /** The complete environment of the child (nothing is inherited). */
  readonly env: Readonly<Record<string, string>>
  /** How long the plugin may take to exit after SIGTERM before it gets SIGKILL. */
  readonly stopTimeout: Duration.Duration
  /** How many stderr lines to keep for error reports. */
  readonly tailLines: number
  /** Append the raw bytes of each stream to these files. */
  readonly stdoutFile?: string | undefined
  readonly stderrFile?: string | undefined
  /** Resource limits of the plugin's cgroup, where the host can set them. */
  readonly limits?: ResourceLimits.Limits | undefined
  /** Runs when the process exits, whether asked to or not (also during the scope's close). */
  readonly onExit?:
    | ((event: {
      readonly pid: number
      readonly exit: ProcessExit
      readonly stopRequested: boolean
      /** What the kernel counted against the limits (OOM kills, refused forks, throttling). */
      readonly limitHits: ReadonlyArray<ResourceLimits.LimitHit>
    }) => Effect.Effect<void>)
    | undefined
}

export interface VmProcessHandle {
  readonly pid: number
  /** Waits for the process to exit. */
  readonly exit: Effect.Effect<ProcessExit>
  /** The exit status if the process has exited. */
  readonly exitStatus: Effect.Effect<Option.Option<ProcessExit>>
  /** SIGTERM, grace period, SIGKILL, then drain the output. Runs once; later calls wait for it. */
  readonly stop: Effect.Effect<ProcessExit>
  /**
   * SIGKILL to the process group at once, then drain the output (bounded): for a plugin that
   * never became a VM (an interrupted launch), where a grace period only makes a person wait.
   */
  readonly kill: Effect.Effect<ProcessExit>
  /** Whether a stop was requested (the exit, if any, was asked for rather than a crash). */
  readonly stopRequested: Effect.Effect<boolean>
  /**
   * Whether, at the stop, processes the plugin started in its group were still alive after the
   * plugin itself had exited (they ignored SIGTERM, and were SIGKILLed with the group): what
   * made such a stop take the whole grace period.
   */
  readonly groupOutlivedPlugin: Effect.Effect<boolean>
  /** Waits (at most `timeout`) until both output streams have been read to their end. */
  readonly drained: (timeout: Duration.Input) => Effect.Effect<void>
  /** The last lines the plugin wrote to stderr. */
  readonly stderrTail: Effect.Effect<ReadonlyArray<string>>
  /** The last lines of both streams, oldest first, each as `stdout: line` or `stderr: line`. */
  readonly recentLines: Effect.Effect<ReadonlyArray<string>>
}

// A stop never takes longer than the grace period plus this: after SIGKILL the kernel frees the
// process at once, so the margin only guards the host against a broken system.
const stopMargin = Duration.seconds(1)
// A process that left the plugin's group can keep its pipes open after the plugin died.
const drainBound = Duration.millis(500)

const signalOf = (error: unknown): string | null => {
  const text = String((error as { cause?: { message?: string } })?.cause?.message ?? (error as Error)?.message)
  return /signal: '?(SIG[A-Z0-9]+)/.exec(text)?.[1] ?? null
}

const openRaw = (file: string | undefined) =>
  file === undefined ?
    Effect.succeed(undefined) :
    Effect.acquireRelease(
      Effect.sync(() => openSync(file, "a")),
      (fd) => Effect.sync(() => closeSync(fd))
    )

export class VmProcess extends Context.Service<VmProcess, {
  readonly spawn: (spec: ProcessSpec) => Effect.Effect<VmProcessHandle, SpawnFailed, Scope.Scope>
}>()("@vmre/runtime/VmProcess") {
  /** Without its dependencies: provide the platform's services, an OrphanGuard and a Containment. */
  static readonly layerNoDeps = Layer.effect(
    VmProcess,
    Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const guard = yield* OrphanGuard
      const containment = yield* Containment

      const spawn = Effect.fn("VmProcess.spawn")(function*(spec: ProcessSpec) {
        yield* Diagnose.preflight(spec.path, spec.env)
        const scope = yield* Effect.scope
        const stdoutFd = yield* openRaw(spec.stdoutFile)
        const stderrFd = yield* openRaw(spec.stderrFile)

        // Created first, so removed last: after the stop, whatever is left in it is killed.
        const cgroup = yield* containment.create(spec.name, spec.limits)
        if (cgroup !== undefined) yield* guard.watchCgroup(cgroup.path)
        const notApplied = spec.limits === undefined ?
          [] :
          cgroup?.notApplied ?? (["memory", "pids", "cpu"] as const).filter((r) =>
            (r === "memory" ? spec.limits!.memoryBytes : r === "pids" ? spec.limits!.pids : spec.limits!.cpus) !== undefined
          )
        if (notApplied.length > 0) {
          yield* Effect.logWarning(
            `${spec.name}: limits not applied: ${notApplied.join(", ")} (` +
              (cgroup === undefined ? `no cgroups here: ${containment.unavailable}` : "no cgroup controller for it on this host") + ")"
          )
        }
        const guarded = guard.wrapCommand(spec.path, spec.args)
        const command = cgroup === undefined ? guarded : cgroup.wrap(guarded)
        const handle = yield* spawner.spawn(
          ChildProcess.make(command.command, command.args, {
            cwd: spec.cwd,
            env: spec.env,
            extendEnv: false,
            stdin: "ignore",
            stdout: "pipe",
            stderr: "pipe",
            // Its own process group: a terminal's Ctrl-C does not reach it, and stop signals
            // reach every process it started.
            detached: true,
            killSignal: "SIGTERM",
            forceKillAfter: spec.stopTimeout
          })
        ).pipe(Effect.mapError((error) => Diagnose.fromSpawnError(spec.path, error)))
        const pid = Number(handle.pid)
        // Detached: the plugin leads its own process group, whose id is its pid.
        yield* guard.watch(pid)

        const exited = yield* Deferred.make<ProcessExit>()
        let stopRequested = false
        yield* handle.exitCode.pipe(
          Effect.map((code): ProcessExit => ({ code: Number(code), signal: null })),
          Effect.catch((error) => Effect.succeed<ProcessExit>({ code: null, signal: signalOf(error) })),
          // Report first, then wake the waiters: a waiter may close this scope at once.
          Effect.flatMap((exit) =>
            Effect.uninterruptible(Effect.andThen(
              spec.onExit === undefined ? Effect.void : Effect.flatMap(
                cgroup?.limitHits ?? Effect.succeed([]),
                (limitHits) => spec.onExit!({ pid, exit, stopRequested, limitHits })
              ),
              Deferred.succeed(exited, exit)
            ))
          ),
          Effect.forkIn(scope)
        )

        const tail = new PluginLog.RecentLines(spec.tailLines)
        const recent = new PluginLog.RecentLines(spec.tailLines)
        const pump = (stream: "stdout" | "stderr", bytes: Stream.Stream<Uint8Array, unknown>, fd: number | undefined) =>
          (fd === undefined ? bytes : bytes.pipe(Stream.tap((chunk) => Effect.sync(() => writeSync(fd, chunk))))).pipe(
            PluginLog.records(stream),
            Stream.runForEachArray((records) =>
              Effect.forEach(records, (record) => {
                if (stream === "stderr") tail.push(record.line)
                recent.push(`${stream}: ${record.line}`)
                return Effect.logWithLevel(record.level)(record.line)
              }, { discard: true })
            ),
            // `source` tells the plugin's own lines apart from the runtime's messages about it.
            Effect.annotateLogs({ source: "plugin", vm: spec.name, pid, stream }),
            Effect.ignore,
            Effect.forkIn(scope)
          )
        const pumps = [
          yield* pump("stdout", handle.stdout, stdoutFd),
          yield* pump("stderr", handle.stderr, stderrFd)
        ]
        const drained = (timeout: Duration.Input) =>
          Effect.forEach(pumps, Fiber.join, { discard: true }).pipe(Effect.timeoutOption(timeout), Effect.asVoid)

        let groupOutlivedPlugin = false
        const terminate = Effect.gen(function*() {
          stopRequested = true
          if (!(yield* Deferred.isDone(exited))) {
            // SIGTERM to the process group, SIGKILL to it after the grace period.
            const watch = yield* Effect.forkChild(Effect.gen(function*() {
              yield* Deferred.await(exited)
              // The plugin is gone: anything still in its group ignored the SIGTERM (given a
              // moment to act on it). A group left empty, the usual case, costs the stop no wait.
              if (!isAlive(-pid)) return
              yield* Effect.sleep(Duration.millis(50))
              if (isAlive(-pid)) groupOutlivedPlugin = true
            }))
            yield* Effect.ignore(handle.kill({ killSignal: "SIGTERM", forceKillAfter: spec.stopTimeout }))
            yield* Fiber.join(watch).pipe(Effect.timeoutOption(Duration.millis(100)))
          }
          yield* Deferred.await(exited)
          yield* drained(drainBound)
        }).pipe(
          Effect.timeoutOption(Duration.sum(spec.stopTimeout, stopMargin)),
          Effect.andThen(Deferred.poll(exited)),
          // Past the bound the exit status is unknown; SIGKILL has been sent by then.
          Effect.flatMap((done) =>
            Option.isSome(done) ? done.value : Effect.succeed<ProcessExit>({ code: null, signal: "SIGKILL" })
          ),
          // The stop's steps in the trace: how it ended, and whether the group outlived the plugin.
          Effect.tap((exit) =>
            Effect.annotateCurrentSpan({ "process.exit_code": exit.code ?? -1, "process.signal": exit.signal ?? "", groupOutlivedPlugin })
          ),
          Effect.withSpan("VmProcess.stop", { attributes: { "process.pid": pid, stopTimeoutMillis: Duration.toMillis(spec.stopTimeout) } })
        )
        const stop = yield* Effect.cached(Effect.uninterruptible(terminate))
        const kill = Effect.uninterruptible(Effect.gen(function*() {
          stopRequested = true
          if (!(yield* Deferred.isDone(exited))) yield* Effect.ignore(handle.kill({ killSignal: "SIGKILL" }))
          return yield* Effect.andThen(stop, Deferred.await(exited))
        }))
        // Added last so it runs first: the child is stopped and its output drained before the
        // pumps are interrupted and the spawner's own finalizer runs.
        yield* Effect.addFinalizer(() => stop)

        return {
          pid,
          exit: Deferred.await(exited),
          exitStatus: Deferred.poll(exited).pipe(
            Effect.flatMap((done) => Option.isSome(done) ? Effect.map(done.value, Option.some) : Effect.succeed(Option.none()))
          ),
          stop,
          kill,
          stopRequested: Effect.sync(() => stopRequested),
          groupOutlivedPlugin: Effect.sync(() => groupOutlivedPlugin),
          drained,
          stderrTail: Effect.sync(() => tail.snapshot()),
          recentLines: Effect.sync(() => recent.snapshot())
        } satisfies VmProcessHandle
      })
      return VmProcess.of({ spawn })
    })
  )

  /** Real processes, guarded against orphaning, in cgroups where the host may create them. */
  static readonly layer: Layer.Layer<VmProcess> = VmProcess.layerNoDeps.pipe(
    Layer.provide([NodeServices.layer, OrphanGuard.layer, Containment.layer])
  )

  /** Real processes contained by process group only (no cgroups). */
  static readonly layerProcessGroupsOnly: Layer.Layer<VmProcess> = VmProcess.layerNoDeps.pipe(
    Layer.provide([NodeServices.layer, OrphanGuard.layer, Containment.layerNone])
  )
}
