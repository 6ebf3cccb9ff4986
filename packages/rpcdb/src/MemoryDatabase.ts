/**
 * An in-memory `Database`, for tests and for ephemeral chains: like upstream's memdb, a map
 * from key to value whose iterations copy the matching keys (sorted) when they start.
 */
import { Effect, Option, Stream } from "effect"
import {
  type BatchOp,
  type Database,
  DatabaseClosed,
  type Entry,
  hasPrefix,
  type IterateOptions,
  iterationLowerBound
} from "./Database.ts"

// Keys are held as latin1 strings: one UTF-16 code unit per byte, so JavaScript's string
// order is the bytewise order of the keys.
const toId = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1")

interface Stored {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

/** A fresh, empty in-memory database. */
export const make: Effect.Effect<Database> = Effect.sync(() => {
  let entries: Map<string, Stored> | undefined = new Map()

  const open = <A>(f: (entries: Map<string, Stored>) => A): Effect.Effect<A, DatabaseClosed> =>
    Effect.suspend(() => entries === undefined ? Effect.fail(new DatabaseClosed()) : Effect.succeed(f(entries)))

  // Stored bytes are never mutated: a put replaces them. Copies go in and out so that a
  // caller reusing its buffers cannot change what is stored.
  const set = (map: Map<string, Stored>, key: Uint8Array, value: Uint8Array) =>
    map.set(toId(key), { key: key.slice(), value: value.slice() })

  const snapshot = (map: Map<string, Stored>, options: IterateOptions): Array<Stored> => {
    const lower = toId(iterationLowerBound(options))
    const prefix = options.prefix ?? new Uint8Array(0)
    const found: Array<[string, Stored]> = []
    for (const [id, stored] of map) {
      if (id >= lower && hasPrefix(stored.key, prefix)) found.push([id, stored])
    }
    found.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return found.map(([, stored]) => stored)
  }

  const database: Database = {
    get: (key) =>
      open((map) => {
        const stored = map.get(toId(key))
        return stored === undefined ? Option.none() : Option.some(stored.value.slice())
      }),
    has: (key) => open((map) => map.has(toId(key))),
    put: (key, value) => open((map) => void set(map, key, value)),
    delete: (key) => open((map) => void map.delete(toId(key))),
    writeBatch: (ops: ReadonlyArray<BatchOp>) =>
      open((map) => {
        // Synchronous, so nothing can observe a half-applied batch.
        for (const op of ops) {
          if (op.value === undefined) map.delete(toId(op.key))
          else set(map, op.key, op.value)
        }
      }),
    iterate: (options = {}) =>
      Stream.unwrap(
        open((map) => snapshot(map, options)).pipe(
          Effect.map((found) =>
            Stream.fromIterable(found).pipe(
              Stream.map(({ key, value }): Entry => [key.slice(), value.slice()])
            )
          )
        )
      ),
    compact: () => open(() => undefined),
    health: open(() => null),
    close: open(() => {
      entries = undefined
    })
  }
  return database
})
