/**
 * The ChainVm client over a real plugin subprocess (test/fixtures/chainvm-plugin.ts): the
 * stop sequence and its order, and calls racing the death of the process.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer } from "effect"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { ChainVm, type ChainVmConfig, CurrentVm } from "../src/index.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import { id } from "./ChainVmSupport.ts"
import { captureLogs, isAlive, waitUntil } from "./support.ts"

const chainVmFixture = fileURLToPath(new URL("./fixtures/chainvm-plugin.ts", import.meta.url))

const fixture = (mode: string, overrides: Partial<ChainVmConfig> = {}): ChainVmConfig => ({
  path: process.execPath,
  args: [chainVmFixture],
  name: `chainvm-${mode}`,
  env: { FIXTURE_MODE: mode },
  ...overrides
})

/** The lines the fixture wrote to stdout, in order. */
const stdoutOf = (logs: ReturnType<typeof captureLogs>, name: string) =>
  logs.lines.filter((l) => l.annotations.vm === name && l.annotations.stream === "stdout").map((l) => l.message)

describe("ChainVm.layer over a plugin subprocess", () => {
  it.live("stop sequence: Shutdown, then the connection is closed, then SIGTERM; the plugin exits 0", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const [vm, pending] = yield* Effect.gen(function*() {
        const vm = yield* CurrentVm
        const client = yield* ChainVm
        expect(yield* client.version()).toBe("chainvm-fixture/1.0.0")
        // A long poll in flight while the scope closes, as the engine always has one; it
        // lives outside the layer's scope so that only the closed connection can end it.
        const pending = yield* Effect.forkDetach(client.waitForEvent())
        expect(yield* waitUntil(() => stdoutOf(logs, "chainvm-upstream").includes("WaitForEvent pending"))).toBe(true)
        return [vm, pending] as const
      }).pipe(Effect.provide(ChainVm.layer(fixture("upstream")).pipe(Layer.provide(logs.layer))))

      // The layer's scope is closed: the process has been stopped and reaped.
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
      expect(isAlive(vm.pid)).toBe(false)
      expect(yield* waitUntil(() => stdoutOf(logs, "chainvm-upstream").some((l) => l.startsWith("SIGTERM")))).toBe(true)
      const lines = stdoutOf(logs, "chainvm-upstream").filter((l) => !l.startsWith("chainvm fixture serving"))
      expect(lines).toEqual([
        "WaitForEvent pending",
        "shutdown received",
        "WaitForEvent aborted by the client",
        "SIGTERM after Shutdown (client connection closed: true)"
      ])
      // The pending call ended (it did not hang) with a typed error.
      const ended = yield* Fiber.await(pending).pipe(Effect.timeout("5 seconds"))
      expect(Exit.isFailure(ended)).toBe(true)
    })
  })

  it.live("control: without Shutdown the fixture ignores SIGTERM and is SIGKILLed after the grace", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const exit = yield* Effect.gen(function*() {
        const runtime = yield* VmRuntime
        const vm = yield* runtime.launch(fixture("upstream", { name: "chainvm-control", stopTimeout: "500 millis" }))
        return yield* vm.stop
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(VmRuntime.layer, logs.layer)))
      expect(exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(stdoutOf(logs, "chainvm-control")).toContain("SIGTERM ignored: no Shutdown received yet")
    })
  })

  it.live("a Shutdown without an answer is bounded; the stop carries on and the plugin still exits 0", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const [elapsed, vm] = yield* Effect.gen(function*() {
        return yield* CurrentVm
      }).pipe(
        Effect.provide(
          ChainVm.layer(fixture("hang-shutdown", { shutdownTimeout: "500 millis" })).pipe(Layer.provide(logs.layer))
        ),
        Effect.timed
      )
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(500)
      const warning = logs.lines.find((l) => l.level === "Warn" && l.message.startsWith("stopping chainvm-hang-shutdown"))
      expect(warning?.message).toMatch(/vm\.VM\/Shutdown failed: the vm is unavailable \(DeadlineExceeded\)/)
    })
  })

  it.live("SIGKILL while a call is pending: VmProcessExited, then every later call fails at once", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const vm = yield* CurrentVm
        const client = yield* ChainVm
        const pending = yield* Effect.forkChild(client.buildBlock())
        expect(yield* waitUntil(() => stdoutOf(logs, "chainvm-killed").includes("BuildBlock received"))).toBe(true)
        process.kill(vm.pid, "SIGKILL")

        const error = yield* Fiber.join(pending).pipe(Effect.flip, Effect.timeout("5 seconds"))
        expect(error).toMatchObject({ _tag: "VmProcessExited", method: "BuildBlock", pid: vm.pid, signal: "SIGKILL" })
        if (error._tag !== "VmProcessExited") return
        expect(error.exitCode).toBeNull()
        expect(error.stderrTail).toContain("chainvm fixture: stderr line for the tail")
        expect(error.message).toMatch(/^vm\.VM\/BuildBlock failed: the vm process \(pid \d+\) killed by SIGKILL/)

        for (const call of [client.version(), client.health(), client.getBlock(id(1)), client.waitForEvent()]) {
          const later = yield* Effect.flip(call).pipe(Effect.timeout("2 seconds"))
          expect(later._tag).toBe("VmProcessExited")
        }
      }).pipe(Effect.provide(ChainVm.layer(fixture("upstream", { name: "chainvm-killed" })).pipe(Layer.provide(logs.layer))))
      // The stop sequence saw the dead process and did not call Shutdown.
      expect(logs.lines.some((l) => l.message === "chainvm-killed already exited: no Shutdown call")).toBe(true)
    })
  })

  it.live("a call waiting for a process that is stopped from elsewhere ends with VmProcessExited", () =>
    Effect.gen(function*() {
      const vm = yield* CurrentVm
      const client = yield* ChainVm
      const pending = yield* Effect.forkChild(client.buildBlock())
      yield* Effect.sleep("200 millis")
      // vm.stop: SIGTERM, which this plugin ignores (no Shutdown), then SIGKILL after the grace.
      yield* vm.stop
      const error = yield* Fiber.join(pending).pipe(Effect.flip, Effect.timeout("5 seconds"))
      expect(error).toMatchObject({ _tag: "VmProcessExited", signal: "SIGKILL" })
    }).pipe(
      Effect.provide(
        ChainVm.layer(fixture("upstream", { name: "chainvm-stopped", stopTimeout: "300 millis" })).pipe(
          Layer.provide(captureLogs().layer)
        )
      )
    ))
})

describe("ChainVm.layer launch failures", () => {
  it.live("a plugin that cannot start fails the layer with the typed LaunchError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.gen(function*() {
          return yield* ChainVm
        }).pipe(Effect.provide(ChainVm.layer({ path: "/no/such/plugin" }).pipe(Layer.provide(captureLogs().layer))))
      )
      expect(error._tag).toBe("SpawnFailed")
    }))
})

const payloadChain = fileURLToPath(new URL("../../../examples/payload-chain/bin/payload-chain", import.meta.url))

describe("ChainVm.layer over the example VM (examples/payload-chain)", () => {
  // avalanchego's registration: Version and Shutdown before Initialize, then the stop.
  it.live.skipIf(!existsSync(payloadChain))("Version and Shutdown before Initialize; the plugin exits 0", () =>
    Effect.gen(function*() {
      const vm = yield* Effect.gen(function*() {
        const client = yield* ChainVm
        expect(yield* client.version()).toMatch(/\S/)
        return yield* CurrentVm
      }).pipe(Effect.provide(ChainVm.layer({ path: payloadChain }).pipe(Layer.provide(captureLogs().layer))))
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
    }), 20_000)
})
