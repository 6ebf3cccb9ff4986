/**
 * Chains on the TypeScript example VM, in real processes: blocks produced on the VM's own
 * signal, two chains on one store, a VM killed mid-chain, a VM that dies on every start.
 */
import { describe, expect, it } from "@effect/vitest"
import { Lifecycle, type LifecycleEvent } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Effect, Option, Stream } from "effect"
import { mkdirSync } from "node:fs"
import { isAlive } from "../../../test-support/processes.ts"
import * as Chain from "../src/Chain.ts"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import * as PrefixDatabase from "../src/PrefixDatabase.ts"
import { chainIdOf, payloadChainScript, tempDir, testNode, vmIdOf, writeScript } from "./support.ts"

const payloadVm = vmIdOf(1)
const crashingVm = vmIdOf(2)
const utf8 = (text: string) => new TextEncoder().encode(text)
// Ten payloads a second: a block about every 100 ms.
const fastConfig = utf8(JSON.stringify({ autoPayload: { intervalMillis: 100, bytes: 32 } }))

/** A node: registry over `dir`, factory, an in-memory store, chain data under `dir`. */
const nodeLayer = (dir: string) => testNode(dir, { pluginDir: `${dir}/plugins` })

const collect = Effect.gen(function*() {
  const events: Array<LifecycleEvent> = []
  yield* (yield* Lifecycle).events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
  yield* Effect.sleep("10 millis")
  return events
})

const acceptedHeights = (events: ReadonlyArray<LifecycleEvent>, name: string) =>
  events.flatMap((e) => e._tag === "BlockAccepted" && e.name === name ? [Number(e.height)] : [])

const plugins = (dir: string) =>
  Effect.sync(() => {
    mkdirSync(`${dir}/plugins`)
    writeScript(`${dir}/plugins`, payloadVm, payloadChainScript())
    // Serves, then is killed 1.5 s after every start: a VM that crashes on every start.
    writeScript(
      `${dir}/plugins`,
      crashingVm,
      `${payloadChainScript().replace("exec ", "")} &\nchild=$!\n/bin/sleep 1.5\nkill -9 $child\nwait\nexit 1`
    )
  })

describe("Chain", () => {
  it.live("grows a chain on the VM's signal, and two chains on one store never see each other's keys", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-chain-")
      yield* plugins(dir)
      yield* Effect.gen(function*() {
        const events = yield* collect
        const a = yield* Chain.run({ chainId: chainIdOf(10), vm: payloadVm, name: "a", config: fastConfig, untilHeight: 3n })
        const b = yield* Chain.run({ chainId: chainIdOf(11), vm: payloadVm, name: "b", config: fastConfig, untilHeight: 3n })
        const [doneA, doneB] = yield* Effect.all([a.done, b.done], { concurrency: 2 })
        expect(doneA).toMatchObject({ name: "a", height: 3n, blocksAccepted: 3, restarts: 0 })
        expect(doneB).toMatchObject({ name: "b", height: 3n, blocksAccepted: 3, restarts: 0 })
        expect(acceptedHeights(events, "a")).toEqual([1, 2, 3])
        expect(events.filter((e) => e._tag === "ChainState" && e.name === "a").map((e) => e._tag === "ChainState" && e.state))
          .toEqual(["Bootstrapping", "NormalOp"])

        // Each chain's keys live behind its own prefix in the node's store, and nowhere else.
        const store = yield* NodeDatabase
        const prefixA = PrefixDatabase.chainVmPrefix("avalanchego", chainIdOf(10))
        const prefixB = PrefixDatabase.chainVmPrefix("avalanchego", chainIdOf(11))
        const keys = yield* Stream.runCollect(store.iterate())
        const under = (prefix: Uint8Array) => keys.filter(([k]) => Ids.equals(k.subarray(0, prefix.length), prefix)).length
        expect(under(prefixA)).toBeGreaterThan(0)
        expect(under(prefixB)).toBeGreaterThan(0)
        expect(under(prefixA) + under(prefixB)).toBe(keys.length)
        const lastOf = (prefix: Uint8Array) =>
          Effect.map(store.get(new Uint8Array([...prefix, ...utf8("lastAccepted")])), Option.map(Ids.toString))
        expect(Option.getOrThrow(yield* lastOf(prefixA))).toBe(doneA.lastAccepted)
        expect(Option.getOrThrow(yield* lastOf(prefixB))).toBe(doneB.lastAccepted)
        expect(doneA.lastAccepted).not.toBe(doneB.lastAccepted)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer(dir)))
    }).pipe(Effect.scoped), 60_000)

  it.live("a VM killed mid-chain is relaunched and the chain goes on with no height skipped or repeated", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-chain-")
      yield* plugins(dir)
      const pids: Array<number> = []
      yield* Effect.gen(function*() {
        const events = yield* collect
        const chain = yield* Chain.run({
          chainId: chainIdOf(12),
          vm: payloadVm,
          name: "c",
          config: fastConfig,
          untilHeight: 8n,
          restart: { maxRestarts: 3 }
        })
        // Let it accept a few blocks, then SIGKILL the VM.
        while ((yield* chain.status).height < 3n) yield* Effect.sleep("20 millis")
        const first = yield* chain.instance
        pids.push(first.vm.pid)
        process.kill(first.vm.pid, "SIGKILL")
        const done = yield* chain.done
        pids.push((yield* chain.instance).vm.pid)
        expect(done).toMatchObject({ height: 8n, restarts: 1 })
        expect(acceptedHeights(events, "c")).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
        // The relaunched run's block cache followed its accepts (answered here: that VM has stopped).
        const blocks = yield* chain.blocks
        const last = yield* blocks.lastAccepted
        expect(last.height).toBe(8n)
        expect(Ids.toString(last.id)).toBe(done.lastAccepted)
        expect((yield* blocks.getBlock(last.id)).status).toBe("Accepted")
        const resumed = events.find((e) => e._tag === "ChainResumed")
        expect(resumed).toMatchObject({ name: "c", restarts: 1 })
        expect(events.some((e) => e._tag === "Restarting" && e.name === "c" && e.reason.includes("SIGKILL"))).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer(dir)))
      expect(pids[0]).not.toBe(pids[1])
      for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false)
    }).pipe(Effect.scoped), 60_000)

  it.live("a VM that dies on every start gives up per the schedule with a typed error", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-chain-")
      yield* plugins(dir)
      yield* Effect.gen(function*() {
        const events = yield* collect
        const chain = yield* Chain.run({
          chainId: chainIdOf(13),
          vm: crashingVm,
          name: "d",
          config: fastConfig,
          restart: { maxRestarts: 2 }
        })
        const error = yield* Effect.flip(chain.done)
        expect(error._tag).toBe("RestartsExhausted")
        expect(error.message).toMatch(/^giving up on vm d after 2 restarts in a row; last failure: /)
        expect(events.filter((e) => e._tag === "Restarting" && e.name === "d").length).toBe(2)
        expect(events.some((e) => e._tag === "GaveUp" && e.name === "d")).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(nodeLayer(dir)))
    }).pipe(Effect.scoped), 60_000)
})
