// One behaviour suite, run against every Database: in memory, LevelDB, and the VM's view
// of a LevelDB through the rpcdb gRPC client and server over loopback.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Stream } from "effect"
import { compareBytes, type Database, iterationLowerBound, prefixUpperBound } from "../src/Database.ts"
import { backends, bytes, collect, collectKeys, eventually, filled, hex, key32, text } from "./support.ts"

const some = (value: Uint8Array) => Option.some(value)

describe.each(backends)("$name", (backend) => {
  const withDb = <A, E>(f: (db: Database, subject: { openIterators?: Effect.Effect<number> }) => Effect.Effect<A, E>) =>
    Effect.flatMap(backend.make, (subject) => f(subject.database, subject))

  it.live("put, get, has, delete", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const key = text("alpha")
        expect(yield* db.get(key)).toEqual(Option.none())
        expect(yield* db.has(key)).toBe(false)
        yield* db.put(key, text("one"))
        expect(yield* db.get(key)).toEqual(some(text("one")))
        expect(yield* db.has(key)).toBe(true)
        yield* db.put(key, text("two"))
        expect(yield* db.get(key)).toEqual(some(text("two")))
        yield* db.delete(key)
        expect(yield* db.get(key)).toEqual(Option.none())
        expect(yield* db.has(key)).toBe(false)
        // Deleting a missing key is fine, as upstream.
        yield* db.delete(key)
        yield* db.delete(text("never-there"))
      })
    ))

  it.live("empty key and empty value are ordinary keys and values", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const empty = new Uint8Array(0)
        yield* db.put(empty, text("value of the empty key"))
        yield* db.put(text("k"), empty)
        expect(yield* db.get(empty)).toEqual(some(text("value of the empty key")))
        expect(yield* db.has(empty)).toBe(true)
        // An empty value is present, not missing.
        expect(yield* db.get(text("k"))).toEqual(some(empty))
        expect(yield* db.has(text("k"))).toBe(true)
        expect(yield* collect(db.iterate())).toEqual([
          ["", hex(text("value of the empty key"))],
          [hex(text("k")), ""]
        ])
        yield* db.delete(empty)
        expect(yield* db.has(empty)).toBe(false)
      })
    ))

  it.live("stored bytes do not change when the caller reuses its buffers", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const key = bytes(1, 2, 3)
        const value = bytes(4, 5, 6)
        yield* db.put(key, value)
        key[0] = 9
        value[0] = 9
        expect(yield* db.get(bytes(1, 2, 3))).toEqual(some(bytes(4, 5, 6)))
        const got = Option.getOrThrow(yield* db.get(bytes(1, 2, 3)))
        got[1] = 0
        expect(yield* db.get(bytes(1, 2, 3))).toEqual(some(bytes(4, 5, 6)))
      })
    ))

  it.live("writeBatch applies puts and deletes in order; the last op on a key wins", () =>
    withDb((db) =>
      Effect.gen(function*() {
        yield* db.put(text("a"), text("old"))
        yield* db.put(text("d"), text("doomed"))
        yield* db.writeBatch([
          { key: text("a"), value: text("new") },
          { key: text("b"), value: text("b1") },
          { key: text("d"), value: undefined },
          { key: text("c"), value: text("c1") },
          { key: text("c"), value: undefined },
          { key: text("e"), value: undefined },
          { key: text("e"), value: text("e2") },
          { key: text("b"), value: text("b2") }
        ])
        expect(yield* db.get(text("a"))).toEqual(some(text("new")))
        expect(yield* db.get(text("b"))).toEqual(some(text("b2")))
        expect(yield* db.has(text("c"))).toBe(false)
        expect(yield* db.has(text("d"))).toBe(false)
        expect(yield* db.get(text("e"))).toEqual(some(text("e2")))
        yield* db.writeBatch([])
      })
    ))

  it.live("writeBatch is atomic: a concurrent iteration sees all of it or none of it", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const n = 300
        const ops = Array.from({ length: n }, (_, i) => ({ key: Uint8Array.of(7, ...key32(i)), value: filled(64, i) }))
        const counts: Array<number> = []
        let writing = true
        const reader = yield* Effect.forkChild(
          Effect.gen(function*() {
            while (writing) {
              counts.push((yield* Stream.runCollect(db.iterate({ prefix: bytes(7) }))).length)
              yield* Effect.yieldNow
            }
          })
        )
        yield* Effect.sleep("5 millis")
        yield* db.writeBatch(ops)
        yield* Effect.sleep("5 millis")
        writing = false
        yield* Fiber.join(reader)
        expect(counts.length).toBeGreaterThan(0)
        expect(counts.filter((c) => c !== 0 && c !== n)).toEqual([])
        expect((yield* Stream.runCollect(db.iterate({ prefix: bytes(7) }))).length).toBe(n)
      })
    ))

  it.live("iterates keys in bytewise order, from start, within prefix", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const keys = [
          bytes(),
          bytes(0x00),
          bytes(0x00, 0xff),
          bytes(0x01),
          bytes(0x01, 0x00),
          bytes(0x01, 0x00, 0x05),
          bytes(0x01, 0x02),
          bytes(0x01, 0xff),
          bytes(0x01, 0xff, 0xff),
          bytes(0x02),
          bytes(0x80),
          bytes(0xff),
          bytes(0xff, 0xff),
          bytes(0xff, 0xff, 0x01)
        ]
        // Insert out of order.
        for (const key of [...keys].reverse()) yield* db.put(key, Uint8Array.of(key.length))
        const all = keys.map(hex)
        expect(yield* collectKeys(db.iterate())).toEqual(all)
        expect(yield* collectKeys(db.iterate({ start: bytes(0x01, 0x01) }))).toEqual(all.slice(6))
        expect(yield* collectKeys(db.iterate({ prefix: bytes(0x01) }))).toEqual(all.slice(3, 9))
        // start and prefix together: keys >= start that have the prefix.
        expect(yield* collectKeys(db.iterate({ start: bytes(0x01, 0x00, 0x01), prefix: bytes(0x01) }))).toEqual(
          all.slice(5, 9)
        )
        // A start below the prefix range is the prefix; above it, nothing.
        expect(yield* collectKeys(db.iterate({ start: bytes(0x00), prefix: bytes(0x01) }))).toEqual(all.slice(3, 9))
        expect(yield* collectKeys(db.iterate({ start: bytes(0x02), prefix: bytes(0x01) }))).toEqual([])
        // Prefixes of 0xff bytes have no upper bound key.
        expect(yield* collectKeys(db.iterate({ prefix: bytes(0xff) }))).toEqual(all.slice(11))
        expect(yield* collectKeys(db.iterate({ prefix: bytes(0xff, 0xff) }))).toEqual(all.slice(12))
        expect(yield* collectKeys(db.iterate({ prefix: bytes(0x03) }))).toEqual([])
        expect(yield* collectKeys(db.iterate({ start: bytes(0xff, 0xff, 0x02) }))).toEqual([])
        // Values come with their keys.
        expect((yield* collect(db.iterate({ prefix: bytes(0x00) }))).map(([, v]) => v)).toEqual(["01", "02"])
      })
    ))

  it.live("an iteration sees the database as it was when it started", () =>
    withDb((db) =>
      Effect.gen(function*() {
        for (let i = 0; i < 10; i++) yield* db.put(key32(i * 2), filled(8, i))
        const seen: Array<string> = []
        yield* Stream.runForEach(db.iterate(), ([key]) =>
          Effect.gen(function*() {
            if (seen.length === 0) {
              yield* db.put(key32(5), text("late"))
              yield* db.delete(key32(18))
              yield* db.put(key32(4), text("changed"))
            }
            seen.push(hex(key))
          }))
        expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => hex(key32(i * 2))))
        expect(yield* collectKeys(db.iterate())).toHaveLength(10)
        expect(yield* db.get(key32(4))).toEqual(some(text("changed")))
      })
    ))

  it.live("iterates across many batches: 1000 values of 1 KiB", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const n = 1000
        yield* db.writeBatch(Array.from({ length: n }, (_, i) => ({ key: key32(i), value: filled(1024, i) })))
        const entries = yield* Stream.runCollect(db.iterate())
        expect(entries.length).toBe(n)
        entries.forEach(([key, value], i) => {
          expect(hex(key)).toBe(hex(key32(i)))
          expect(value.length).toBe(1024)
          expect(hex(value)).toBe(hex(filled(1024, i)))
        })
        // From the middle, within a prefix covering part of them.
        const tail = yield* collectKeys(db.iterate({ start: key32(700), prefix: bytes(0, 0, 3) }))
        expect(tail).toEqual(Array.from({ length: 1000 - 768 }, (_, i) => hex(key32(768 + i))))
      })
    ))

  it.live("iterates over a 1 MiB value between small ones", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const big = filled(1024 * 1024, 3)
        yield* db.put(text("a"), text("small"))
        yield* db.put(text("b"), big)
        yield* db.put(text("c"), text("small too"))
        const entries = yield* Stream.runCollect(db.iterate())
        expect(entries.map(([k]) => new TextDecoder().decode(k))).toEqual(["a", "b", "c"])
        expect(entries[1]![1].length).toBe(big.length)
        expect(Buffer.compare(entries[1]![1], big)).toBe(0)
        expect(yield* db.get(text("b"))).toEqual(some(big))
      })
    ))

  it.live("stopping an iteration early releases it", () =>
    withDb((db, subject) =>
      Effect.gen(function*() {
        yield* db.writeBatch(Array.from({ length: 500 }, (_, i) => ({ key: key32(i), value: filled(1024, i) })))
        const first = yield* Stream.runCollect(db.iterate().pipe(Stream.take(3)))
        expect(first.map(([k]) => hex(k))).toEqual([0, 1, 2].map((i) => hex(key32(i))))
        // A failure in the consumer also ends it.
        const failed = yield* Stream.runForEach(db.iterate(), () => Effect.fail("consumer gave up")).pipe(Effect.exit)
        expect(Exit.isFailure(failed)).toBe(true)
        // And so does interrupting a consumer in the middle of the stream.
        const started = { count: 0 }
        const fiber = yield* Effect.forkChild(
          Stream.runForEach(db.iterate(), () => Effect.sync(() => started.count++).pipe(Effect.andThen(Effect.never)))
        )
        yield* eventually(Effect.sync(() => started.count), (n) => n > 0)
        yield* Fiber.interrupt(fiber)
        if (subject.openIterators !== undefined) {
          expect(yield* eventually(subject.openIterators, (n) => n === 0)).toBe(0)
        }
        // The database is still usable and complete.
        expect((yield* Stream.runCollect(db.iterate())).length).toBe(500)
        if (subject.openIterators !== undefined) expect(yield* subject.openIterators).toBe(0)
      })
    ))

  it.live("compacts, whole or in part", () =>
    withDb((db) =>
      Effect.gen(function*() {
        for (let i = 0; i < 100; i++) yield* db.put(key32(i), filled(100, i))
        for (let i = 0; i < 100; i += 2) yield* db.delete(key32(i))
        yield* db.compact()
        yield* db.compact(key32(10), key32(20))
        yield* db.compact(key32(50))
        yield* db.compact(undefined, key32(30))
        expect((yield* Stream.runCollect(db.iterate())).length).toBe(50)
        expect(yield* db.get(key32(51))).toEqual(some(filled(100, 51)))
      })
    ))

  it.live("reports health while open", () =>
    withDb((db) =>
      Effect.gen(function*() {
        const health = yield* db.health
        expect(JSON.parse(JSON.stringify(health ?? null))).toEqual(health ?? null)
      })
    ))

  it.live("every operation after close fails with DatabaseClosed", () =>
    withDb((db) =>
      Effect.gen(function*() {
        yield* db.put(text("k"), text("v"))
        yield* db.close
        const failures = [
          yield* Effect.flip(db.get(text("k"))),
          yield* Effect.flip(db.has(text("k"))),
          yield* Effect.flip(db.put(text("k"), text("w"))),
          yield* Effect.flip(db.delete(text("k"))),
          yield* Effect.flip(db.writeBatch([{ key: text("k"), value: undefined }])),
          yield* Effect.flip(Stream.runCollect(db.iterate())),
          yield* Effect.flip(db.compact()),
          yield* Effect.flip(db.health),
          yield* Effect.flip(db.close)
        ]
        expect(failures.map((e) => e._tag)).toEqual(Array(failures.length).fill("DatabaseClosed"))
        expect(failures[0]!.message).toBe("closed")
      })
    ))
})

describe("byte order helpers", () => {
  it("compareBytes is bytewise, shorter first on a common prefix", () => {
    expect(compareBytes(bytes(), bytes(0))).toBeLessThan(0)
    expect(compareBytes(bytes(1, 2), bytes(1, 2))).toBe(0)
    expect(compareBytes(bytes(1, 0xff), bytes(2))).toBeLessThan(0)
    expect(compareBytes(bytes(0x80), bytes(0x7f, 0xff))).toBeGreaterThan(0)
  })
  it("prefixUpperBound is the first key past the prefix, none for empty or all-0xff prefixes", () => {
    expect(prefixUpperBound(bytes(1, 2))).toEqual(bytes(1, 3))
    expect(prefixUpperBound(bytes(1, 0xff))).toEqual(bytes(2))
    expect(prefixUpperBound(bytes(0xff, 0xff))).toBeUndefined()
    expect(prefixUpperBound(bytes())).toBeUndefined()
  })
  it("iterationLowerBound is the larger of start and prefix", () => {
    expect(iterationLowerBound({})).toEqual(bytes())
    expect(iterationLowerBound({ start: bytes(1), prefix: bytes(2) })).toEqual(bytes(2))
    expect(iterationLowerBound({ start: bytes(2, 5), prefix: bytes(2) })).toEqual(bytes(2, 5))
  })
})
