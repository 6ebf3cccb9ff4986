/**
 * The host with a plugin on gRPC's C-core (interop/ccore/plugin, Debian's python3-grpcio):
 * handshake and version mismatch, Version and Health, 1 KiB and 1 MiB messages both ways, a
 * method the plugin does not serve, a deadline and a cancellation the plugin sees, and the stop
 * sequence of a plugin that ignores SIGTERM until Shutdown.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { ccorePluginPath, skipCCore } from "../../../test-support/ccoreInterop.ts"
import { captureLogs } from "../../../test-support/logs.ts"
import { ChainVm, Id, VmRuntime } from "../src/index.ts"
import { waitUntil } from "./support.ts"

const idOf = (first: number) => Id.make(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? first : 0)))

describe.skipIf(skipCCore)("a C-core plugin under the host", () => {
  it.live("handshakes, answers, moves 1 KiB and 1 MiB both ways, and stops through Shutdown with exit 0", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { client, vm } = yield* ChainVm.launch({ path: ccorePluginPath, handshakeTimeout: "30 seconds" }).pipe(
        Scope.provide(scope)
      )
      expect(vm.protocolVersion).toBe(45)
      expect(yield* client.version()).toBe("ccore-plugin/1.0.0")
      expect(yield* client.health()).toEqual({ healthy: true })
      for (const size of [1024, 1024 * 1024]) {
        const parsed = yield* client.parseBlock(new Uint8Array(size).fill(7))
        expect(parsed.height).toBe(BigInt(size))
      }
      expect((yield* client.getBlock(idOf(1))).bytes.length).toBe(1024)
      expect((yield* client.getBlock(idOf(2))).bytes.length).toBe(1024 * 1024)
      // A method the plugin does not serve: C-core's UNIMPLEMENTED, an answer of the VM.
      expect(yield* Effect.flip(client.setPreference(idOf(3)))).toMatchObject({ _tag: "VmCallFailed", code: "Unimplemented" })
      yield* Scope.close(scope, Exit.void)
      // SIGTERM was obeyed because Shutdown came first.
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
    }).pipe(Effect.provide(VmRuntime.layer)), 60_000)

  it.live("a deadline and an interruption end the plugin's call (it says so)", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const { client } = yield* ChainVm.launch({
          path: ccorePluginPath,
          handshakeTimeout: "30 seconds",
          timeouts: { BuildBlock: "300 millis" }
        })
        const timedOut = yield* Effect.flip(client.buildBlock())
        expect(timedOut).toMatchObject({ _tag: "VmUnavailable", code: "DeadlineExceeded" })
        const ended = () => logs.lines.filter((l) => l.message.includes("BuildBlock ended by the node")).length
        expect(yield* waitUntil(() => ended() >= 1, 5_000)).toBe(true)

        const { client: unbounded } = yield* ChainVm.launch({
          path: ccorePluginPath,
          handshakeTimeout: "30 seconds",
          timeouts: { BuildBlock: "Infinity" }
        })
        const call = yield* Effect.forkChild(unbounded.buildBlock())
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(call)
        expect(yield* waitUntil(() => ended() >= 2, 5_000)).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(VmRuntime.layer, logs.layer)))
    }), 60_000)

  it.live("without Shutdown (handshake only) it ignores SIGTERM and is SIGKILLed after the grace", () =>
    Effect.gen(function*() {
      const runtime = yield* VmRuntime
      const scope = yield* Scope.make()
      const vm = yield* runtime.launch({ path: ccorePluginPath, handshakeTimeout: "30 seconds", stopTimeout: "500 millis" }).pipe(
        Scope.provide(scope)
      )
      yield* Scope.close(scope, Exit.void)
      expect(yield* vm.exit).toEqual({ code: null, signal: "SIGKILL" })
    }).pipe(Effect.provide(VmRuntime.layer)), 60_000)

  it.live("a C-core plugin of another protocol version: ProtocolVersionMismatch naming both", () =>
    Effect.gen(function*() {
      const runtime = yield* VmRuntime
      const exit = yield* Effect.exit(
        runtime.launch({ path: ccorePluginPath, env: { PLUGIN_PROTOCOL: "44" }, handshakeTimeout: "30 seconds" }).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ _tag: "ProtocolVersionMismatch", node: 45, vm: 44 })
    }).pipe(Effect.provide(VmRuntime.layer)), 60_000)
})
