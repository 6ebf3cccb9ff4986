import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, Metric, Schedule, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type LifecycleEvent, metrics } from "../src/Lifecycle.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import { supervise } from "../src/Supervisor.ts"
import { collectEvents, fixture, isAlive, waitUntil } from "./support.ts"

const live = Layer.merge(VmRuntime.layer, Logger.layer([]))


const tags = (events: ReadonlyArray<LifecycleEvent>) => events.map((e) => e._tag)

describe("Lifecycle events and metrics", () => {
  it.live("a launch publishes Spawned, Ready, and on stop Exited(requested)", () =>
    Effect.gen(function*() {
      const events = yield* collectEvents
      const runtime = yield* VmRuntime
      const scope = yield* Scope.make()
      const vm = yield* runtime.launch(fixture("normal")).pipe(Scope.provide(scope))
      yield* Scope.close(scope, Exit.void)
      yield* waitUntil(() => events.length >= 3)
      expect(tags(events)).toEqual(["Spawned", "Ready", "Exited"])
      expect(events[1]).toMatchObject({ _tag: "Ready", pid: vm.pid, vmAddr: vm.vmAddr, protocolVersion: 45 })
      expect(events[2]).toMatchObject({ _tag: "Exited", pid: vm.pid, exit: { code: 0, signal: null }, requested: true })
    }).pipe(Effect.provide(live), Effect.scoped))

  it.live("a crash before the handshake publishes Exited(not requested) and LaunchFailed, and counts them", () =>
    Effect.gen(function*() {
      const before = yield* Metric.value(Metric.withAttributes(metrics.launchFailures, { error: "ProcessExitedBeforeHandshake" }))
      const events = yield* collectEvents
      const runtime = yield* VmRuntime
      yield* Effect.flip(runtime.launch(fixture("crash")).pipe(Effect.scoped))
      yield* waitUntil(() => events.length >= 3)
      expect(tags(events)).toEqual(["Spawned", "Exited", "LaunchFailed"])
      expect(events[1]).toMatchObject({ exit: { code: 3, signal: null }, requested: false })
      expect(events[2]).toMatchObject({ error: "ProcessExitedBeforeHandshake" })
      const after = yield* Metric.value(Metric.withAttributes(metrics.launchFailures, { error: "ProcessExitedBeforeHandshake" }))
      expect(after.count - before.count).toBe(1)
    }).pipe(Effect.provide(live), Effect.scoped))
})

describe("Supervisor", () => {
  it.live("restarts a plugin that crashes, and the current instance is the new one", () =>
    Effect.gen(function*() {
      const state = join(mkdtempSync(join(tmpdir(), "vmre-sup-")), "state")
      const events = yield* collectEvents
      const supervised = yield* supervise(fixture("crash-once", { fixtureEnv: { FIXTURE_STATE: state } }), {
        schedule: Schedule.spaced("50 millis")
      })
      const first = yield* supervised.current
      yield* waitUntil(() => events.some((e) => e._tag === "Ready" && e.pid !== first.pid), 10_000)
      const second = yield* supervised.current
      expect(second.pid).not.toBe(first.pid)
      expect(isAlive(second.pid)).toBe(true)
      expect(yield* supervised.restarts).toBe(1)
      expect(events.find((e) => e._tag === "Restarting")).toMatchObject({
        attempt: 1,
        reason: expect.stringMatching(/^exit code 1; last stderr: /)
      })
    }).pipe(Effect.provide(live), Effect.scoped), 20_000)

  it.live("gives up after maxRestarts runs shorter than minUptime", () =>
    Effect.gen(function*() {
      const events = yield* collectEvents
      const supervised = yield* supervise(fixture("exit-after-handshake"), {
        schedule: Schedule.spaced("20 millis"),
        maxRestarts: 2,
        minUptime: "30 seconds"
      })
      const error = yield* Effect.flip(supervised.done).pipe(Effect.timeout("20 seconds"))
      expect(error._tag).toBe("RestartsExhausted")
      expect(error.message).toContain("after 2 restarts in a row")
      expect(tags(events).filter((t) => t === "Restarting")).toHaveLength(2)
      expect(events.at(-1)).toMatchObject({ _tag: "GaveUp", restarts: 2 })
      expect((yield* Effect.flip(supervised.current))._tag).toBe("RestartsExhausted")
    }).pipe(Effect.provide(live), Effect.scoped), 30_000)

  it.live("runs that last minUptime reset the budget: it keeps restarting past maxRestarts", () =>
    Effect.gen(function*() {
      const supervised = yield* supervise(fixture("exit-after-handshake"), {
        schedule: Schedule.spaced("10 millis"),
        maxRestarts: 1,
        minUptime: "1 milli"
      })
      const done = yield* Effect.forkChild(supervised.done)
      expect(yield* waitUntil(() => Effect.runSync(supervised.restarts) >= 3, 20_000)).toBe(true)
      expect(done.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(done)
    }).pipe(Effect.provide(live), Effect.scoped), 30_000)

  it.live("a first launch that fails is reported at once, not retried", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(supervise(fixture("normal", { fixtureEnv: { FIXTURE_PROTOCOL: "44" } })))
      expect(error._tag).toBe("ProtocolVersionMismatch")
    }).pipe(Effect.provide(live), Effect.scoped))
})
