/**
 * The node's block cache in front of a real VM (the Go plugin, grpc-go): known blocks and
 * statuses answered without a call, and never stale — a rejected block stays rejected, a
 * re-parsed accepted block is accepted, a failed verification is asked again, a missing block
 * is found once parsed, an evicted block is asked again and answered as the VM knows it. Then a
 * bootstrap from one VM to another through it: GetAncestors and BatchedParseBlock per batch,
 * verify and accept per block.
 */
import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { MemoryDatabase, RpcDbServer } from "@vmre/rpcdb"
import { ChainVm, type ChainVmClient, Id, VmRuntime } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Effect, Layer, Logger, Metric } from "effect"
import { goInitializeParams, goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { BlockState, Bootstrap } from "../src/index.ts"

const live = Layer.merge(VmRuntime.layer, Logger.layer([]))

/** The client with a count of the calls made through it, per method. */
const counted = (client: ChainVmClient) => {
  const calls: Record<string, number> = {}
  const wrapped = Object.fromEntries(
    Object.entries(client).map(([name, f]) => [name, (...args: Array<unknown>) => {
      calls[name] = (calls[name] ?? 0) + 1
      return (f as (...a: Array<unknown>) => unknown)(...args)
    }])
  ) as unknown as ChainVmClient
  return { client: wrapped, calls }
}

const launchGoVm = (name: string) =>
  Effect.gen(function*() {
    const db = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
    const { client } = yield* ChainVm.launch({ path: goPluginPath, name })
    const genesis = yield* client.initialize(goInitializeParams(db.address))
    yield* client.setState("NormalOp")
    return { client, genesis }
  })

/** A block of the Go plugin's format (parent || height || time || payload; id = sha256) that no VM has seen. */
const foreignBlock = (parent: Uint8Array, height: bigint, payload: string) => {
  const bytes = new Uint8Array(48 + payload.length)
  bytes.set(parent, 0)
  const view = new DataView(bytes.buffer)
  view.setBigUint64(32, height)
  view.setBigUint64(40, BigInt(Math.floor(Date.now() / 1000)))
  bytes.set(new TextEncoder().encode(payload), 48)
  return { bytes, id: Id.make(new Uint8Array(createHash("sha256").update(bytes).digest())) }
}

describe.skipIf(skipGo)("BlockState: the node's block cache in front of a Go VM", () => {
  it.live("answers known blocks and statuses without a call, never stale after accept, reject, failed verify or a miss", () =>
    Effect.gen(function*() {
      const { client: raw, genesis } = yield* launchGoVm("go-cache")
      const { calls, client } = counted(raw)
      const state = BlockState.make(client, genesis, { chain: "cache-test" })

      // Accepted through the state: the block, its bytes and its height are known here.
      const a = yield* state.buildBlock()
      yield* state.verify(a)
      yield* client.setPreference(a.id)
      yield* state.accept(a)
      const before = { ...calls }
      expect((yield* state.getBlock(a.id)).status).toBe("Accepted")
      expect((yield* state.parseBlock(a.bytes)).status).toBe("Accepted")
      expect(yield* state.getBlockIdAtHeight(1n)).toEqual(a.id)
      expect(yield* state.getBlockIdAtHeight(0n)).toEqual(genesis.id)
      expect(calls).toEqual(before)
      // ... and the VM agrees.
      expect((yield* raw.getBlock(a.id)).status).toBe("Accepted")

      // Two siblings at height 2; one accepted, one rejected: the rejected one stays rejected.
      const b1 = yield* state.buildBlock()
      const b2 = yield* state.buildBlock()
      expect(b1.height).toBe(2n)
      expect(b2.height).toBe(2n)
      yield* state.verify(b1)
      yield* state.verify(b2)
      expect((yield* state.getBlock(b2.id)).status).toBe("Processing")
      yield* client.setPreference(b1.id)
      yield* state.accept(b1)
      yield* state.reject(b2)
      const decided = { ...calls }
      expect((yield* state.getBlock(b2.id)).status).toBe("Rejected")
      expect((yield* state.parseBlock(b2.bytes)).status).toBe("Rejected")
      expect((yield* state.getBlock(b1.id)).status).toBe("Accepted")
      expect((yield* state.lastAccepted).height).toBe(2n)
      expect(calls).toEqual(decided)
      expect((yield* raw.getBlock(b2.id)).status).toBe("Rejected")

      // A block that fails verification is not taken for verified: the VM is asked again.
      const orphan = foreignBlock(new Uint8Array(32).fill(0xee), 3n, "orphan")
      expect((yield* state.parseBlock(orphan.bytes)).status).toBe("Processing")
      expect((yield* Effect.flip(state.verify(yield* state.parseBlock(orphan.bytes))))._tag).toBe("VmCallFailed")
      expect((yield* Effect.flip(state.verify(yield* state.parseBlock(orphan.bytes))))._tag).toBe("VmCallFailed")
      expect(calls.blockVerify).toBe(5) // a, b1, b2, and the orphan twice
      expect(calls.parseBlock).toBe(1)

      // A missing block: asked once; found once it is parsed.
      const child = foreignBlock(b1.id, 3n, "child of b1")
      expect((yield* Effect.flip(state.getBlock(child.id)))._tag).toBe("NotFound")
      expect((yield* Effect.flip(state.getBlock(child.id)))._tag).toBe("NotFound")
      expect(calls.getBlock).toBe(1)
      const parsed = yield* state.parseBlock(child.bytes)
      expect(parsed.id).toEqual(child.id)
      expect((yield* state.getBlock(child.id)).height).toBe(3n)
      expect(calls.getBlock).toBe(1)
      yield* state.verify(parsed)
      yield* state.accept(parsed)

      // Heights above the last accepted one are not final: asked each time.
      expect((yield* Effect.flip(state.getBlockIdAtHeight(9n)))._tag).toBe("NotFound")
      expect((yield* Effect.flip(state.getBlockIdAtHeight(9n)))._tag).toBe("NotFound")
      expect(calls.getBlockIdAtHeight).toBe(2)

      // One BatchedParseBlock for the unknown blocks only, answers in order.
      const fresh = foreignBlock(child.id, 4n, "fresh")
      const batch = yield* state.batchedParseBlock([a.bytes, fresh.bytes, b2.bytes])
      expect(batch.map((b) => b.status)).toEqual(["Accepted", "Processing", "Rejected"])
      expect(batch[1]!.id).toEqual(fresh.id)
      expect(calls.batchedParseBlock).toBe(1)
      const stats = yield* state.stats
      expect(stats.hits).toBeGreaterThan(stats.misses)
      // The same counts as metrics, labelled with the chain.
      const countOf = (metric: typeof BlockState.metrics.hits) =>
        Effect.map(Metric.value(Metric.withAttributes(metric, { chain: "cache-test" })), (s) => s.count)
      expect(yield* countOf(BlockState.metrics.hits)).toBe(stats.hits)
      expect(yield* countOf(BlockState.metrics.misses)).toBe(stats.misses)
    }).pipe(Effect.scoped, Effect.provide(live)))

  it.live("an evicted block is asked again and answered as the VM knows it", () =>
    Effect.gen(function*() {
      const { client: raw, genesis } = yield* launchGoVm("go-cache-small")
      const { calls, client } = counted(raw)
      const state = BlockState.make(client, genesis, { decidedCacheSize: 1, bytesCacheSize: 1 })
      const accepted = []
      for (let i = 0; i < 3; i++) {
        const block = yield* state.buildBlock()
        yield* state.verify(block)
        yield* client.setPreference(block.id)
        yield* state.accept(block)
        accepted.push(block)
      }
      const first = yield* state.getBlock(accepted[0]!.id)
      expect(calls.getBlock).toBe(1)
      expect(first.status).toBe("Accepted")
      expect(first.bytes).toEqual(accepted[0]!.bytes)
      const reparsed = yield* state.parseBlock(accepted[1]!.bytes)
      expect(calls.parseBlock).toBe(1)
      expect(reparsed.status).toBe("Accepted")
    }).pipe(Effect.scoped, Effect.provide(live)))

  it.live("bootstraps one VM from another: GetAncestors and BatchedParseBlock per batch, verify and accept per block", () =>
    Effect.gen(function*() {
      const peer = yield* launchGoVm("go-peer")
      let tip = peer.genesis.id
      for (let i = 0; i < 25; i++) {
        const block = yield* peer.client.buildBlock()
        yield* peer.client.blockVerify(block.bytes)
        yield* peer.client.setPreference(block.id)
        yield* peer.client.blockAccept(block.id)
        tip = block.id
      }
      const local = yield* launchGoVm("go-local")
      const { calls, client } = counted(local.client)
      const state = BlockState.make(client, local.genesis)
      const result = yield* Bootstrap.run(state, peer.client, { tip, maxBlocksNum: 10 })
      expect(result).toEqual({ accepted: 25, batches: 3, height: 25n })
      expect(calls).toEqual({ batchedParseBlock: 3, blockVerify: 25, blockAccept: 25 })
      expect(yield* local.client.getBlockIdAtHeight(25n)).toEqual(tip)
      expect((yield* state.getBlock(tip)).status).toBe("Accepted")

      // Caught up: nothing to do. A tip the peer does not have, or a chain that is not ours, fails typed.
      expect(yield* Bootstrap.run(state, peer.client, { tip })).toEqual({ accepted: 0, batches: 0, height: 25n })
      const unknown = yield* Effect.flip(Bootstrap.run(state, peer.client, { tip: Id.make(new Uint8Array(32).fill(0xab)) }))
      expect(unknown._tag).toBe("BootstrapFailed")
      expect(unknown.message).toContain(Ids.toString(new Uint8Array(32).fill(0xab)))
      const other = yield* launchGoVm("go-other")
      const forked = yield* other.client.buildBlock()
      yield* other.client.blockVerify(forked.bytes)
      yield* other.client.setPreference(forked.id)
      yield* other.client.blockAccept(forked.id)
      const refused = yield* Effect.flip(Bootstrap.run(state, other.client, { tip: forked.id }))
      expect(refused._tag).toBe("BootstrapFailed")
    }).pipe(Effect.scoped, Effect.provide(live)))
})
