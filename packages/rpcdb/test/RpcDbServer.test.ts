// The server's wire behaviour seen by a bare Connect client (no RpcDbClient in between),
// and the client's mapping of what the server sends.
import { describe, expect, it } from "@effect/vitest"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { Effect, Stream } from "effect"
import { Health, HealthCheckResponse_ServingStatus } from "@vmre/proto/grpc/health/v1/health_pb"
import { Database as DatabaseService, Error as DbError } from "@vmre/proto/rpcdb/rpcdb_pb"
import { GrpcClient } from "@vmre/transport"
import { type Database, DatabaseClosed, DatabaseFailure, type Entry } from "../src/Database.ts"
import * as LevelDatabase from "../src/LevelDatabase.ts"
import * as MemoryDatabase from "../src/MemoryDatabase.ts"
import * as RpcDbClient from "../src/RpcDbClient.ts"
import * as RpcDbServer from "../src/RpcDbServer.ts"
import { join } from "node:path"
import { filled, hex, key32, tempDir, text } from "./support.ts"

const rawClient = (address: string) =>
  Effect.map(GrpcClient.transport(address), ({ transport }) => createClient(DatabaseService, transport))

const connectError = <A>(promise: () => Promise<A>) =>
  Effect.promise(() => promise().then(() => undefined, (error: unknown) => ConnectError.from(error)))

/** A database whose iterations are counted while they are open. */
const tracked = (inner: Database) => {
  const open = { count: 0 }
  const database: Database = {
    ...inner,
    iterate: (options) =>
      Stream.unwrap(
        Effect.acquireRelease(Effect.sync(() => open.count++), () => Effect.sync(() => open.count--)).pipe(
          Effect.as(inner.iterate(options))
        )
      )
  }
  return { open, database }
}

/** A memory database with `n` keys key32(i) of `size`-byte values. */
const filledMemory = (n: number, size: number) =>
  Effect.gen(function*() {
    const db = yield* MemoryDatabase.make
    yield* db.writeBatch(Array.from({ length: n }, (_, i) => ({ key: key32(i), value: filled(size, i) })))
    return db
  })

describe("RpcDbServer", () => {
  it.live("answers not-found and closed with status OK and the err enum", () =>
    Effect.gen(function*() {
      const server = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
      const client = yield* rawClient(server.address)
      yield* Effect.promise(() => client.put({ key: text("k"), value: text("v") }))
      expect(yield* Effect.promise(() => client.get({ key: text("k") }))).toMatchObject({
        value: text("v"),
        err: DbError.UNSPECIFIED
      })
      const missing = yield* Effect.promise(() => client.get({ key: text("nope") }))
      expect(missing.err).toBe(DbError.NOT_FOUND)
      expect(missing.value).toHaveLength(0)
      expect((yield* Effect.promise(() => client.has({ key: text("nope") }))).has).toBe(false)
      expect((yield* Effect.promise(() => client.delete({ key: text("nope") }))).err).toBe(DbError.UNSPECIFIED)
      expect((yield* Effect.promise(() => client.close({}))).err).toBe(DbError.UNSPECIFIED)
      expect((yield* Effect.promise(() => client.get({ key: text("k") }))).err).toBe(DbError.CLOSED)
      expect((yield* Effect.promise(() => client.put({ key: text("k"), value: text("w") }))).err).toBe(DbError.CLOSED)
      expect((yield* Effect.promise(() => client.writeBatch({ puts: [], deletes: [] }))).err).toBe(DbError.CLOSED)
      expect((yield* Effect.promise(() => client.close({}))).err).toBe(DbError.CLOSED)
      // HealthCheck has no err field: closed travels as an error status, as upstream.
      const health = yield* connectError(() => client.healthCheck({}))
      expect(health?.code).toBe(Code.Unknown)
      expect(health?.rawMessage).toBe("closed")
      // An iterator over a closed database: an empty batch, then ERROR_CLOSED.
      const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
      expect((yield* Effect.promise(() => client.iteratorNext({ id }))).data).toHaveLength(0)
      expect((yield* Effect.promise(() => client.iteratorError({ id }))).err).toBe(DbError.CLOSED)
      expect((yield* Effect.promise(() => client.iteratorRelease({ id }))).err).toBe(DbError.CLOSED)
    }))

  it.live("other failures are error statuses with the error's text; defects too", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryDatabase.make
      const failing: Database = {
        ...inner,
        put: () => Effect.fail(new DatabaseFailure({ reason: "disk full" })),
        get: () => Effect.die(new Error("bug in the store")),
        health: Effect.succeed({ leveldb: { ok: true } })
      }
      const server = yield* RpcDbServer.serve(failing)
      const client = yield* rawClient(server.address)
      const put = yield* connectError(() => client.put({ key: text("k"), value: text("v") }))
      expect(put?.code).toBe(Code.Unknown)
      expect(put?.rawMessage).toBe("disk full")
      const get = yield* connectError(() => client.get({ key: text("k") }))
      expect(get?.code).toBe(Code.Internal)
      expect(get?.rawMessage).toBe("internal error - bug in the store")
      const details = (yield* Effect.promise(() => client.healthCheck({}))).details
      expect(JSON.parse(new TextDecoder().decode(details))).toEqual({ leveldb: { ok: true } })
      // Through RpcDbClient.
      const db = yield* RpcDbClient.make(server.address)
      const failure = yield* Effect.flip(db.put(text("k"), text("v")))
      expect(failure).toBeInstanceOf(DatabaseFailure)
      expect(failure.message).toBe("disk full")
      const defect = yield* Effect.flip(db.get(text("k")))
      expect(defect.message).toBe("Internal - internal error - bug in the store")
      expect(yield* db.health).toEqual({ leveldb: { ok: true } })
    }))

  it.live("serves grpc.health.v1.Health with SERVING for the empty service name", () =>
    Effect.gen(function*() {
      const server = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
      const { transport } = yield* GrpcClient.transport(server.address)
      const health = createClient(Health, transport)
      expect((yield* Effect.promise(() => health.check({ service: "" }))).status).toBe(
        HealthCheckResponse_ServingStatus.SERVING
      )
    }))

  it.live("IteratorNext batches hold about 128 KiB: stop once reached, at least one pair", () =>
    Effect.gen(function*() {
      const server = yield* RpcDbServer.serve(yield* filledMemory(1000, 1024))
      const client = yield* rawClient(server.address)
      const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
      const sizes: Array<number> = []
      const keys: Array<string> = []
      for (;;) {
        const { data } = yield* Effect.promise(() => client.iteratorNext({ id }))
        sizes.push(data.length)
        keys.push(...data.map(({ key }) => hex(key)))
        if (data.length === 0) break
      }
      // 4-byte keys + 1 KiB values: 127 pairs are 130 556 bytes (< 128 KiB), 128 pairs reach it.
      expect(sizes).toEqual([128, 128, 128, 128, 128, 128, 128, 104, 0])
      expect(keys).toEqual(Array.from({ length: 1000 }, (_, i) => hex(key32(i))))
      expect((yield* Effect.promise(() => client.iteratorError({ id }))).err).toBe(DbError.UNSPECIFIED)
      expect(yield* server.openIterators).toBe(1)
      yield* Effect.promise(() => client.iteratorRelease({ id }))
      expect(yield* server.openIterators).toBe(0)

      // A pair larger than the batch goes alone (after whatever came before it).
      const db = yield* MemoryDatabase.make
      yield* db.put(text("a"), text("small"))
      yield* db.put(text("b"), filled(1024 * 1024, 1))
      yield* db.put(text("c"), text("small"))
      yield* db.put(text("d"), filled(200 * 1024, 2))
      const big = yield* RpcDbServer.serve(db)
      const bigClient = yield* rawClient(big.address)
      const it2 = (yield* Effect.promise(() => bigClient.newIteratorWithStartAndPrefix({}))).id
      const batches: Array<Array<string>> = []
      for (;;) {
        const { data } = yield* Effect.promise(() => bigClient.iteratorNext({ id: it2 }))
        if (data.length === 0) break
        batches.push(data.map(({ key }) => new TextDecoder().decode(key)))
      }
      expect(batches).toEqual([["a", "b"], ["c", "d"]])
    }))

  it.live("an iterator takes its snapshot at NewIteratorWithStartAndPrefix", () =>
    Effect.gen(function*() {
      const db = yield* filledMemory(3, 8)
      const server = yield* RpcDbServer.serve(db)
      const client = yield* rawClient(server.address)
      const { id } = yield* Effect.promise(() =>
        client.newIteratorWithStartAndPrefix({ start: key32(1), prefix: new Uint8Array([0, 0]) })
      )
      yield* db.put(key32(2), text("changed later"))
      yield* db.put(key32(3), text("added later"))
      const { data } = yield* Effect.promise(() => client.iteratorNext({ id }))
      expect(data.map(({ key, value }) => [hex(key), hex(value)])).toEqual([
        [hex(key32(1)), hex(filled(8, 1))],
        [hex(key32(2)), hex(filled(8, 2))]
      ])
    }))

  it.live("concurrent IteratorNext calls on one iterator hand out disjoint batches", () =>
    Effect.gen(function*() {
      const server = yield* RpcDbServer.serve(yield* filledMemory(2000, 512))
      const client = yield* rawClient(server.address)
      const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
      const drain = Effect.gen(function*() {
        const keys: Array<string> = []
        for (;;) {
          const { data } = yield* Effect.promise(() => client.iteratorNext({ id }))
          if (data.length === 0) return keys
          keys.push(...data.map(({ key }) => hex(key)))
        }
      })
      const [a, b, c] = yield* Effect.all([drain, drain, drain], { concurrency: "unbounded" })
      const all = [...a, ...b, ...c].sort()
      expect(all).toEqual(Array.from({ length: 2000 }, (_, i) => hex(key32(i))))
    }))

  it.live("unknown iterator ids: Next and Error fail, Release is OK", () =>
    Effect.gen(function*() {
      const server = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
      const client = yield* rawClient(server.address)
      const next = yield* connectError(() => client.iteratorNext({ id: 12345n }))
      expect(next?.code).toBe(Code.NotFound)
      expect(next?.rawMessage).toBe("unknown iterator")
      const error = yield* connectError(() => client.iteratorError({ id: 12345n }))
      expect(error?.rawMessage).toBe("unknown iterator")
      expect(yield* connectError(() => client.iteratorRelease({ id: 12345n }))).toBeUndefined()
      // A released iterator is unknown afterwards.
      const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
      yield* Effect.promise(() => client.iteratorRelease({ id }))
      expect((yield* connectError(() => client.iteratorNext({ id })))?.code).toBe(Code.NotFound)
    }))

  it.live("bounds the open iterators per server, with a clear error past the bound", () =>
    Effect.gen(function*() {
      const { open, database } = tracked(yield* filledMemory(10, 8))
      const server = yield* RpcDbServer.serve(database, { maxIterators: 3 })
      const client = yield* rawClient(server.address)
      const ids: Array<bigint> = []
      for (let i = 0; i < 3; i++) ids.push((yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))).id)
      expect(new Set(ids).size).toBe(3)
      expect(open.count).toBe(3)
      const refused = yield* connectError(() => client.newIteratorWithStartAndPrefix({}))
      expect(refused?.code).toBe(Code.ResourceExhausted)
      expect(refused?.rawMessage).toBe("too many open iterators (limit 3) - release iterators with IteratorRelease")
      // The VM's client reports it as a failure of the iteration.
      const db = yield* RpcDbClient.make(server.address)
      const failure = yield* Effect.flip(Stream.runCollect(db.iterate()))
      expect(failure._tag).toBe("DatabaseFailure")
      expect(failure.message).toContain("too many open iterators (limit 3)")
      yield* Effect.promise(() => client.iteratorRelease({ id: ids[0]! }))
      expect(yield* server.openIterators).toBe(2)
      expect((yield* Stream.runCollect(db.iterate())).length).toBe(10)
      expect(yield* server.openIterators).toBe(2)
      // A fully read iterator lets go of the store's iterator before it is released.
      const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
      yield* Effect.promise(() => client.iteratorNext({ id }))
      expect(open.count).toBe(2)
    }))

  it.live("the bound holds under concurrent NewIteratorWithStartAndPrefix calls", () =>
    Effect.gen(function*() {
      // LevelDB's first read is asynchronous, so the creations overlap.
      const level = yield* LevelDatabase.open(join(yield* tempDir, "db"))
      yield* level.writeBatch(Array.from({ length: 100 }, (_, i) => ({ key: key32(i), value: filled(64, i) })))
      const { open, database } = tracked(level)
      const server = yield* RpcDbServer.serve(database, { maxIterators: 3 })
      const client = yield* rawClient(server.address)
      const results = yield* Effect.all(
        Array.from({ length: 12 }, () => connectError(() => client.newIteratorWithStartAndPrefix({}))),
        { concurrency: "unbounded" }
      )
      expect(results.filter((error) => error === undefined)).toHaveLength(3)
      expect(results.filter((error) => error?.code === Code.ResourceExhausted)).toHaveLength(9)
      expect(yield* server.openIterators).toBe(3)
      expect(open.count).toBe(3)
    }))

  it.live("all open iterators are released when the server's scope closes", () =>
    Effect.gen(function*() {
      const { open, database } = tracked(yield* filledMemory(1000, 1024))
      yield* Effect.scoped(
        Effect.gen(function*() {
          const server = yield* RpcDbServer.serve(database)
          const client = yield* rawClient(server.address)
          for (let i = 0; i < 5; i++) {
            const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
            yield* Effect.promise(() => client.iteratorNext({ id }))
          }
          expect(yield* server.openIterators).toBe(5)
          expect(open.count).toBe(5)
        })
      )
      expect(open.count).toBe(0)
    }))

  it.live("an iteration that fails on the server: the pairs before it, then the error", () =>
    Effect.gen(function*() {
      const inner = yield* filledMemory(10, 8)
      const failAfter = (error: DatabaseClosed | DatabaseFailure): Database => ({
        ...inner,
        iterate: (options) =>
          Stream.concat(inner.iterate(options).pipe(Stream.take(3)), Stream.fail(error) as Stream.Stream<Entry, typeof error>)
      })
      const server = yield* RpcDbServer.serve(failAfter(new DatabaseFailure({ reason: "corrupted block" })))
      const client = yield* rawClient(server.address)
      const { id } = yield* Effect.promise(() => client.newIteratorWithStartAndPrefix({}))
      expect((yield* Effect.promise(() => client.iteratorNext({ id }))).data).toHaveLength(3)
      expect((yield* Effect.promise(() => client.iteratorNext({ id }))).data).toHaveLength(0)
      const error = yield* connectError(() => client.iteratorError({ id }))
      expect(error?.code).toBe(Code.Unknown)
      expect(error?.rawMessage).toBe("corrupted block")
      // Release reports it as well (upstream), and forgets the iterator.
      expect((yield* connectError(() => client.iteratorRelease({ id })))?.rawMessage).toBe("corrupted block")
      expect(yield* server.openIterators).toBe(0)

      const db = yield* RpcDbClient.make(server.address)
      const seen: Array<string> = []
      const failure = yield* Stream.runForEach(db.iterate(), ([key]) => Effect.sync(() => seen.push(hex(key)))).pipe(
        Effect.flip
      )
      expect(failure).toEqual(new DatabaseFailure({ reason: "corrupted block" }))
      expect(seen).toHaveLength(3)
      expect(yield* server.openIterators).toBe(0)

      const closedServer = yield* RpcDbServer.serve(failAfter(new DatabaseClosed()))
      const closedDb = yield* RpcDbClient.make(closedServer.address)
      expect(yield* Effect.flip(Stream.runCollect(closedDb.iterate()))).toBeInstanceOf(DatabaseClosed)
      expect(yield* closedServer.openIterators).toBe(0)
    }))

  it.live("RpcDbClient: a server that went away is a DatabaseFailure, not a hang", () =>
    Effect.gen(function*() {
      const address = yield* Effect.scoped(
        RpcDbServer.serve(yield* MemoryDatabase.make).pipe(Effect.map((server) => server.address))
      )
      const db = yield* RpcDbClient.make(address)
      for (const call of [db.get(text("k")), db.put(text("k"), text("v")), Stream.runCollect(db.iterate())]) {
        const error = yield* Effect.flip(call.pipe(Effect.timeout("10 seconds")))
        expect(error._tag).toBe("DatabaseFailure")
        expect(error.message).toMatch(/^Unavailable - /)
      }
    }))
})
