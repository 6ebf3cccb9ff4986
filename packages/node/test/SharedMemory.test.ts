/**
 * Shared memory over its gRPC service, as two chains' VMs see it: directions, tombstones,
 * duplicate errors, all-or-nothing Apply with the caller's own database writes, Indexed paging.
 */
import { describe, expect, it } from "@effect/vitest"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { SharedMemory as SharedMemoryService } from "@vmre/proto/sharedmemory/sharedmemory_pb"
import { NodeClients } from "@vmre/plugin"
import { GrpcClient } from "@vmre/transport"
import { Effect, Option } from "effect"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import * as PrefixDatabase from "../src/PrefixDatabase.ts"
import * as NodeServicesServer from "../src/services/NodeServicesServer.ts"
import { chainIdOf, testServices } from "./support.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const A = chainIdOf(50)
const B = chainIdOf(51)

const services = testServices

/** The shared-memory client a chain's VM has: through that chain's node-services server. */
const clientFor = (chainId: typeof A) =>
  Effect.gen(function*() {
    const server = yield* NodeServicesServer.serve({ chainId, networkId: 1 })
    const { transport } = yield* GrpcClient.transport(server.address)
    return createClient(SharedMemoryService, transport)
  })

const failure = (promise: Promise<unknown>) => Effect.promise(() => promise.then(() => undefined, (e) => ConnectError.from(e)))

describe("shared memory", () => {
  it.live("a put is read by the peer only, consumed by its remove; duplicates and tombstones as upstream", () =>
    Effect.gen(function*() {
      const a = yield* clientFor(A)
      const b = yield* clientFor(B)
      yield* Effect.promise(() =>
        a.apply({ requests: [{ peerChainId: B, putRequests: [{ key: utf8("k1"), value: utf8("v1"), traits: [utf8("t")] }] }] })
      )
      // B reads what A put for it; A does not.
      expect((yield* Effect.promise(() => b.get({ peerChainId: A, keys: [utf8("k1")] }))).values.map(text)).toEqual(["v1"])
      const mine = yield* failure(a.get({ peerChainId: B, keys: [utf8("k1")] }))
      expect({ code: mine?.code, message: mine?.rawMessage }).toEqual({ code: Code.Unknown, message: "not found" })
      // A second put of a present key fails, naming key and value.
      const twice = yield* failure(a.apply({ requests: [{ peerChainId: B, putRequests: [{ key: utf8("k1"), value: utf8("v2") }] }] }))
      expect(twice?.rawMessage).toBe(`duplicate put: Key=0x${Buffer.from("k1").toString("hex")} Value=0x${Buffer.from("v2").toString("hex")}`)
      // B's remove consumes it; a second remove of a consumed key leaves a tombstone, a third fails.
      yield* Effect.promise(() => b.apply({ requests: [{ peerChainId: A, removeRequests: [utf8("k1")] }] }))
      expect((yield* failure(b.get({ peerChainId: A, keys: [utf8("k1")] })))?.rawMessage).toBe("not found")
      yield* Effect.promise(() => b.apply({ requests: [{ peerChainId: A, removeRequests: [utf8("k9")] }] }))
      const again = yield* failure(b.apply({ requests: [{ peerChainId: A, removeRequests: [utf8("k9")] }] }))
      expect(again?.rawMessage).toBe(`duplicate remove: Key=0x${Buffer.from("k9").toString("hex")}`)
      // A's later put of the tombstoned key cancels it: nothing is stored.
      yield* Effect.promise(() => a.apply({ requests: [{ peerChainId: B, putRequests: [{ key: utf8("k9"), value: utf8("late") }] }] }))
      expect((yield* failure(b.get({ peerChainId: A, keys: [utf8("k9")] })))?.rawMessage).toBe("not found")
    }).pipe(Effect.scoped, Effect.provide(services)))

  it.live("Apply is all or nothing, the caller's batches included", () =>
    Effect.gen(function*() {
      const a = yield* clientFor(A)
      const b = yield* clientFor(B)
      const store = yield* NodeDatabase
      const chainDb = yield* PrefixDatabase.make(store, PrefixDatabase.chainVmPrefix("avalanchego", A))
      yield* Effect.promise(() =>
        a.apply({
          requests: [{ peerChainId: B, putRequests: [{ key: utf8("x"), value: utf8("1") }] }],
          batches: [{ puts: [{ key: utf8("utxo"), value: utf8("spent") }] }]
        })
      )
      expect(Option.map(yield* chainDb.get(utf8("utxo")), text)).toEqual(Option.some("spent"))
      // A failing request in the same Apply: neither its other puts nor the batch are written.
      const failed = yield* failure(a.apply({
        requests: [{ peerChainId: B, putRequests: [{ key: utf8("y"), value: utf8("2") }, { key: utf8("x"), value: utf8("again") }] }],
        batches: [{ puts: [{ key: utf8("other"), value: utf8("w") }], deletes: [{ key: utf8("utxo") }] }]
      }))
      expect(failed?.rawMessage).toMatch(/^duplicate put: /)
      expect((yield* failure(b.get({ peerChainId: A, keys: [utf8("y")] })))?.rawMessage).toBe("not found")
      expect(Option.isNone(yield* chainDb.get(utf8("other")))).toBe(true)
      expect(Option.map(yield* chainDb.get(utf8("utxo")), text)).toEqual(Option.some("spent"))
    }).pipe(Effect.scoped, Effect.provide(services)))

  it.live("Indexed: traits in byte order, each newest first, paged with last_trait/last_key", () =>
    Effect.gen(function*() {
      const a = yield* clientFor(A)
      const b = yield* clientFor(B)
      for (const [key, traits] of [["e1", ["t2"]], ["e2", ["t1", "t2"]], ["e3", ["t1"]], ["e4", ["t2"]]] as const) {
        yield* Effect.promise(() =>
          a.apply({ requests: [{ peerChainId: B, putRequests: [{ key: utf8(key), value: utf8(`value of ${key}`), traits: traits.map(utf8) }] }] })
        )
      }
      const all = yield* Effect.promise(() => b.indexed({ peerChainId: A, traits: [utf8("t2"), utf8("t1")], limit: 10 }))
      // t1: e3, e2 (newest first); t2: e4, e1 (e2 already given).
      expect(all.values.map(text)).toEqual(["value of e3", "value of e2", "value of e4", "value of e1"])
      const first = yield* Effect.promise(() => b.indexed({ peerChainId: A, traits: [utf8("t1"), utf8("t2")], limit: 3 }))
      expect(first.values.map(text)).toEqual(["value of e3", "value of e2", "value of e4"])
      expect({ trait: text(first.lastTrait), key: text(first.lastKey) }).toEqual({ trait: "t2", key: "e4" })
      // Resuming repeats the boundary item, as upstream does.
      const next = yield* Effect.promise(() =>
        b.indexed({ peerChainId: A, traits: [utf8("t1"), utf8("t2")], startTrait: first.lastTrait, startKey: first.lastKey, limit: 3 })
      )
      expect(next.values.map(text)).toEqual(["value of e4", "value of e2", "value of e1"])
    }).pipe(Effect.scoped, Effect.provide(services)))

  it.live("the SDK's client (InitializeContext.node.sharedMemory) does the same from a TypeScript VM", () =>
    Effect.gen(function*() {
      const serverA = yield* NodeServicesServer.serve({ chainId: A, networkId: 1 })
      const serverB = yield* NodeServicesServer.serve({ chainId: B, networkId: 1 })
      const vmA = yield* NodeClients.make(serverA.address, { chainId: A, networkId: 1 })
      const vmB = yield* NodeClients.make(serverB.address, { chainId: B, networkId: 1 })
      yield* vmA.sharedMemory.apply([{ peerChainId: B, puts: [{ key: utf8("sdk"), value: utf8("from A"), traits: [utf8("t")] }] }])
      expect((yield* vmB.sharedMemory.get(A, [utf8("sdk")])).map(text)).toEqual(["from A"])
      expect((yield* vmB.sharedMemory.indexed(A, { traits: [utf8("t")], limit: 5 })).values.map(text)).toEqual(["from A"])
      yield* vmB.sharedMemory.apply([{ peerChainId: A, removes: [utf8("sdk")] }])
      const gone = yield* Effect.flip(vmB.sharedMemory.get(A, [utf8("sdk")]))
      expect(gone).toMatchObject({ _tag: "NodeServiceError", service: "sharedmemory.SharedMemory", method: "Get", code: "Unknown", reason: "not found" })
    }).pipe(Effect.scoped, Effect.provide(services)))
})
