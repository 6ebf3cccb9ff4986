/**
 * Containment beyond the process group: a plugin that starts a `setsid` daemon (which leaves its
 * process group, holds its output pipes and ignores SIGTERM) — stopped with the plugin's cgroup
 * where the host may create cgroups, outliving it where only process groups are available.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import * as fs from "node:fs"
import { captureLogs } from "../../../test-support/logs.ts"
import { isAlive } from "../../../test-support/processes.ts"
import * as Containment from "../src/Containment.ts"
import { Handshake } from "../src/Handshake.ts"
import { Lifecycle, type LifecycleEvent } from "../src/Lifecycle.ts"
import * as ResourceLimits from "../src/ResourceLimits.ts"
import { VmProcess } from "../src/VmProcess.ts"
import { VmRuntime, VmRuntimeConfig } from "../src/VmRuntime.ts"
import { fixture, waitUntil } from "./support.ts"

const zombie = (pid: number): boolean => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? false
  } catch {
    return false
  }
}

const detected = Containment.detect()
const cgroupsHere = "base" in detected

const runtimeWith = (processes: Layer.Layer<VmProcess>, logs: Layer.Layer<never>) =>
  VmRuntime.layerNoDeps.pipe(
    Layer.provideMerge(Lifecycle.layer),
    Layer.provide([Handshake.layer, processes, VmRuntimeConfig.layer]),
    Layer.provideMerge(logs)
  )

/** Launches the escaping fixture in its own scope, stops it, and gives the daemon's pid. */
const launchAndStop = Effect.gen(function*() {
  const logs = captureLogs()
  return { logs, run: (processes: Layer.Layer<VmProcess>) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const runtime = yield* VmRuntime
      const vm = yield* runtime.launch(fixture("escape-grandchild", { stopTimeout: "500 millis" })).pipe(Scope.provide(scope))
      yield* waitUntil(() => logs.lines.some((l) => l.message.startsWith("grandchild ")))
      const daemon = Number(logs.lines.find((l) => l.message.startsWith("grandchild "))!.message.split(" ")[1])
      yield* Scope.close(scope, Exit.void)
      return { daemon, pid: vm.pid }
    }).pipe(Effect.provide(runtimeWith(processes, logs.layer))) }
})

describe("containment", () => {
  it.live.skipIf(!cgroupsHere)("with cgroups, a daemon that left the plugin's process group dies with the plugin", () =>
    Effect.gen(function*() {
      const { logs, run } = yield* launchAndStop
      const { daemon, pid } = yield* run(VmProcess.layer)
      expect(isAlive(pid)).toBe(false)
      // Killed: gone, or a zombie until whoever adopted it reaps it.
      expect(yield* waitUntil(() => !isAlive(daemon) || zombie(daemon), 2_000)).toBe(true)
      expect(logs.lines.some((l) =>
        l.level === "Warn" && /1 process\(es\) it started outside its process group were still running; killed with its cgroup/.test(l.message)
      )).toBe(true)
      // The plugin's cgroup is gone.
      const base = (detected as { base: string }).base
      expect(fs.readdirSync(base).filter((d) => d.startsWith(`vmre-${process.pid}-`) && !d.endsWith("probe"))).toEqual([])
    }), 30_000)

  it.live("with process groups only, the daemon outlives the stop (the documented limit)", () =>
    Effect.gen(function*() {
      const { run } = yield* launchAndStop
      const { daemon, pid } = yield* run(VmProcess.layerProcessGroupsOnly)
      expect(isAlive(pid)).toBe(false)
      expect(isAlive(daemon)).toBe(true)
      process.kill(daemon, "SIGKILL")
    }), 30_000)

  it.live.skipIf(!cgroupsHere)("a cgroup left behind under the next name (or another runtime's in this process) does not leave a plugin uncontained", () =>
    Effect.gen(function*() {
      const base = (detected as { base: string }).base.replace(/\/$/, "")
      // What a first runtime of this process leaves when its plugin's processes outlive the kill bound.
      const leftover = `${base}/vmre-${process.pid}-0`
      yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdirSync(leftover)),
        () => Effect.sync(() => fs.rmdirSync(leftover))
      )
      const paths = yield* Effect.gen(function*() {
        const containment = yield* Containment.Containment
        const first = yield* containment.create("first")
        const second = yield* containment.create("second")
        return [first?.path, second?.path]
      }).pipe(Effect.scoped, Effect.provide(Containment.Containment.layer))
      expect(paths).toEqual([`${base}/vmre-${process.pid}-1`, `${base}/vmre-${process.pid}-2`])
      // Both removed with their scope; the leftover is not ours to remove.
      expect(paths.some((p) => fs.existsSync(p!))).toBe(false)
      expect(fs.existsSync(leftover)).toBe(true)
    }).pipe(Effect.scoped))

  it.live.skipIf(cgroupsHere)("without cgroups, the runtime says so once", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.provide(Effect.void, Layer.merge(VmRuntime.layer, logs.layer))
      expect(logs.lines.filter((l) => l.message.startsWith("cgroups not available")).length).toBe(1)
    }))
})

const limitable = (resource: "memory" | "pids") =>
  cgroupsHere && (
    new Set(fs.readFileSync(`${(detected as { base: string }).base}/cgroup.subtree_control`, "utf8").trim().split(/\s+/)).has(resource) ||
    ResourceLimits.v1Hierarchies().some((h) => h.resource === resource)
  )

describe("per-VM resource limits", () => {
  /** Runs `body` with a runtime whose lifecycle events and log lines are collected. */
  const withRuntime = <A>(
    body: (collected: { readonly events: Array<LifecycleEvent>; readonly logs: ReturnType<typeof captureLogs> }) => Effect.Effect<A, unknown, VmRuntime | Lifecycle | Scope.Scope>
  ) => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const events: Array<LifecycleEvent> = []
      yield* (yield* Lifecycle).events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
      yield* Effect.sleep("10 millis")
      return yield* body({ events, logs })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(VmRuntime.layer, logs.layer)))
  }

  it.live.skipIf(!limitable("memory"))("a VM over its memory limit is OOM-killed and LimitHit{memory} says so", () =>
    withRuntime(({ events }) =>
      Effect.gen(function*() {
        const runtime = yield* VmRuntime
        const vm = yield* runtime.launch(
          fixture("allocate", { fixtureEnv: { FIXTURE_ALLOC_MB: "1024" }, limits: { memoryBytes: 192 * 1024 * 1024 }, stopTimeout: "500 millis" })
        )
        const exit = yield* vm.exit.pipe(Effect.timeout("20 seconds"))
        expect(exit).toEqual({ code: null, signal: "SIGKILL" })
        expect(yield* waitUntil(() => events.some((e) => e._tag === "LimitHit"), 2_000)).toBe(true)
        expect(events.find((e) => e._tag === "LimitHit")).toMatchObject({ resource: "memory", pid: vm.pid })
        expect(events.find((e) => e._tag === "Exited")).toMatchObject({ requested: false, exit: { signal: "SIGKILL" } })
      })
    ), 30_000)

  it.live.skipIf(!limitable("pids"))("a VM over its pids limit gets refused forks, counted in LimitHit{pids} at its stop", () =>
    withRuntime(({ events, logs }) =>
      Effect.gen(function*() {
        const runtime = yield* VmRuntime
        const scope = yield* Scope.make()
        const vm = yield* runtime.launch(
          fixture("fork-many", { fixtureEnv: { FIXTURE_FORKS: "80" }, limits: { pids: 48 }, stopTimeout: "500 millis" })
        ).pipe(Scope.provide(scope))
        expect(yield* waitUntil(() => logs.lines.some((l) => l.message.startsWith("forked ")), 15_000)).toBe(true)
        const forked = Number(logs.lines.find((l) => l.message.startsWith("forked "))!.message.split(" ")[1])
        expect(forked).toBeLessThan(80)
        yield* Scope.close(scope, Exit.void)
        const hit = events.find((e) => e._tag === "LimitHit")
        expect(hit).toMatchObject({ resource: "pids", pid: vm.pid })
        expect((hit as { count: number }).count).toBe(80 - forked)
        expect(logs.lines.some((l) => l.level === "Warn" && l.message === `${vm.name} (pid ${vm.pid}) hit its pids limit: ${80 - forked} fork(s) refused`))
          .toBe(true)
      })
    ), 30_000)

  it.live("a limit the host cannot set is said at launch, and the VM still runs", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const runtime = yield* VmRuntime
        yield* runtime.launch(fixture("normal", { limits: { cpus: 0.5, memoryBytes: 1 << 30 } }))
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(runtimeWith(VmProcess.layerProcessGroupsOnly, logs.layer), logs.layer)))
      expect(logs.lines.some((l) => l.level === "Warn" && /limits not applied: memory, cpu \(no cgroups here: disabled\)/.test(l.message)))
        .toBe(true)
    }), 30_000)
})
