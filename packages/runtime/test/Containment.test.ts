/**
 * Containment beyond the process group: a plugin that starts a `setsid` daemon (which leaves its
 * process group, holds its output pipes and ignores SIGTERM) — stopped with the plugin's cgroup
 * where the host may create cgroups, outliving it where only process groups are available.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import { captureLogs } from "../../../test-support/logs.ts"
import { isAlive } from "../../../test-support/processes.ts"
import * as Containment from "../src/Containment.ts"
import { Handshake } from "../src/Handshake.ts"
import { Lifecycle } from "../src/Lifecycle.ts"
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

  it.live.skipIf(cgroupsHere)("without cgroups, the runtime says so once", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.provide(Effect.void, Layer.merge(VmRuntime.layer, logs.layer))
      expect(logs.lines.filter((l) => l.message.startsWith("cgroups not available")).length).toBe(1)
    }))
})
