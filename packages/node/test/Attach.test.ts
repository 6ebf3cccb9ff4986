/**
 * Attach mode: the host waits at a fixed engine address; the test starts the plugin itself,
 * as a person would under a debugger. vmre never signals a plugin it did not start.
 */
import { describe, expect, it } from "@effect/vitest"
import { Lifecycle, type LifecycleEvent, VmRuntime } from "@vmre/runtime"
import { Effect, Layer, Logger, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { isAlive } from "../../../test-support/processes.ts"
import * as Chain from "../src/Chain.ts"
import { NodeConfig } from "../src/NodeConfig.ts"
import * as NodeServices from "../src/services/Defaults.ts"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import { VmFactory } from "../src/VmFactory.ts"
import { VmRegistry } from "../src/VmRegistry.ts"
import { chainIdOf, payloadChainBin, tempDir } from "./support.ts"

const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

/** The example VM started by hand: an empty environment but the engine address. */
const startByHand = (engineAddr: string) =>
  Effect.acquireRelease(
    Effect.sync(() => spawn(payloadChainBin, [], { env: { VM_RUNTIME_ENGINE_ADDR: engineAddr }, stdio: "ignore" })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )

describe("attach mode", () => {
  it.live("runs a chain on a plugin started by hand, re-attaches after it dies, and never signals it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-attach-")
      const listen = `127.0.0.1:${yield* freePort}`
      const node = VmFactory.layer({ attach: { listen, handshakeTimeout: "30 seconds" } }).pipe(
        Layer.provideMerge(VmRegistry.layerTest([])),
        Layer.provideMerge(NodeServices.layerSingleNode),
        Layer.provideMerge(VmRuntime.layer),
        Layer.provideMerge(NodeDatabase.layerMemory),
        Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: dir })),
        Layer.provideMerge(Logger.layer([]))
      )
      const handStarted: Array<number> = []
      // The hand-started plugins belong to the test (killed at its end), not to the chain's scope.
      const outer = yield* Effect.scope
      const byHand = Effect.flatMap(Scope.provide(startByHand(listen), outer), (child) => Effect.sync(() => handStarted.push(child.pid!)))
      yield* Effect.gen(function*() {
        const events: Array<LifecycleEvent> = []
        yield* (yield* Lifecycle).events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
        // The plugin comes up only after the host is waiting.
        yield* Effect.forkScoped(
          Effect.delay(byHand, "300 millis")
        )
        const chain = yield* Chain.run({
          chainId: chainIdOf(20),
          vm: "attached",
          name: "attached",
          config: new TextEncoder().encode(JSON.stringify({ autoPayload: { intervalMillis: 100, bytes: 32 } })),
          untilHeight: 4n,
          restart: { maxRestarts: 2 }
        })
        const instance = yield* chain.instance
        // The host found the process it did not start by the port it serves on.
        expect(instance.vm.pid).toBe(handStarted[0])
        while ((yield* chain.status).height < 2n) yield* Effect.sleep("20 millis")
        // The person's plugin dies; they start it again, and the chain goes on.
        process.kill(handStarted[0]!, "SIGKILL")
        yield* Effect.delay(byHand, "500 millis").pipe(Effect.forkScoped)
        const done = yield* chain.done
        expect(done).toMatchObject({ height: 4n, restarts: 1 })
        const heights = events.flatMap((e) => e._tag === "BlockAccepted" ? [Number(e.height)] : [])
        expect(heights).toEqual([1, 2, 3, 4])
      }).pipe(Effect.scoped, Effect.provide(node))
      // The chain is stopped (Shutdown called); the plugin vmre did not start is still running.
      expect(handStarted.length).toBe(2)
      expect(isAlive(handStarted[1]!)).toBe(true)
      expect(readFileSync(`/proc/${handStarted[1]}/stat`, "utf8").split(" ")[2]).not.toBe("Z")
    }).pipe(Effect.scoped), 60_000)
})
