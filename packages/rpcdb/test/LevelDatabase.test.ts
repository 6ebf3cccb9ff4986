import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import * as LevelDatabase from "../src/LevelDatabase.ts"
import { collect, filled, hex, key32, tempDir, text } from "./support.ts"

describe("LevelDatabase", () => {
  it.live("data survives close and reopen at the same path", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "chain")
      yield* Effect.scoped(
        Effect.gen(function*() {
          const db = yield* LevelDatabase.open(path)
          yield* db.put(text("height"), text("42"))
          yield* db.put(new Uint8Array(0), text("empty key"))
          yield* db.writeBatch(Array.from({ length: 200 }, (_, i) => ({ key: key32(i), value: filled(512, i) })))
          yield* db.delete(key32(7))
          yield* db.close
        })
      )
      // Closed by the scope only (no explicit close) this time.
      yield* Effect.scoped(
        Effect.gen(function*() {
          const db = yield* LevelDatabase.open(path)
          expect(yield* db.get(text("height"))).toEqual(Option.some(text("42")))
          expect(yield* db.get(new Uint8Array(0))).toEqual(Option.some(text("empty key")))
          expect(yield* db.has(key32(7))).toBe(false)
          expect(yield* db.get(key32(199))).toEqual(Option.some(filled(512, 199)))
          yield* db.put(text("height"), text("43"))
        })
      )
      const db = yield* LevelDatabase.open(path)
      expect(yield* db.get(text("height"))).toEqual(Option.some(text("43")))
      const entries = yield* collect(db.iterate({ prefix: new Uint8Array([0, 0, 0]) }))
      expect(entries).toHaveLength(199)
      expect(entries[0]).toEqual([hex(key32(0)), hex(filled(512, 0))])
    }))

  it.live("a database open elsewhere cannot be opened twice; the message names the path", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "locked")
      yield* LevelDatabase.open(path)
      const error = yield* Effect.flip(Effect.scoped(LevelDatabase.open(path)))
      expect(error._tag).toBe("DatabaseFailure")
      expect(error.message).toContain(`cannot open the LevelDB database at ${path}`)
      expect(error.message.toLowerCase()).toContain("lock")
    }))

  it.live("createIfMissing false refuses a missing database", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "absent")
      const error = yield* Effect.flip(Effect.scoped(LevelDatabase.open(path, { createIfMissing: false })))
      expect(error._tag).toBe("DatabaseFailure")
      expect(error.message).toContain(path)
    }))

  it.live("closing the scope closes the store, and frees its lock, while an iteration is open", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "db")
      yield* Effect.scoped(
        Effect.gen(function*() {
          const db = yield* LevelDatabase.open(path)
          for (let i = 0; i < 50; i++) yield* db.put(key32(i), filled(16, i))
          // Stop in the middle of an iteration: the scope's close must not wait on it.
          yield* Stream.runCollect(db.iterate().pipe(Stream.take(2)))
        })
      )
      expect(existsSync(join(path, "LOCK"))).toBe(true)
      const db = yield* LevelDatabase.open(path)
      expect((yield* Stream.runCollect(db.iterate())).length).toBe(50)
    }))

  it.live("closing during an iteration ends that iteration with DatabaseClosed", () =>
    Effect.gen(function*() {
      const db = yield* LevelDatabase.open(join(yield* tempDir, "db"))
      yield* db.writeBatch(Array.from({ length: 5000 }, (_, i) => ({ key: key32(i), value: filled(64, i) })))
      let seen = 0
      const result = yield* Stream.runForEach(db.iterate(), () =>
        Effect.gen(function*() {
          if (seen++ === 10) yield* db.close
        })).pipe(Effect.flip)
      expect(result._tag).toBe("DatabaseClosed")
      expect(seen).toBeLessThan(5000)
    }))
})
