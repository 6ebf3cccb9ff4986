/**
 * The key-value database of the rpcchainvm protocol, as both sides see it: the node serves
 * one (over `rpcdb.Database`) and the VM uses it. Keys and values are raw bytes; keys are
 * ordered bytewise. The semantics follow avalanchego's `database.Database`:
 *
 * - a missing key is `Option.none()` for `get` and `false` for `has`; deleting a missing key
 *   succeeds;
 * - every operation after `close` (a second `close` included) fails with `DatabaseClosed`;
 * - an iteration sees the database as it was when the iteration started (a snapshot).
 */
import type { Effect, Option, Stream } from "effect"
import { Schema } from "effect"

/** The database has been closed. Upstream's `database.ErrClosed`, `ERROR_CLOSED` on the wire. */
export class DatabaseClosed extends Schema.TaggedError<DatabaseClosed>()("DatabaseClosed", {}) {
  override get message() {
    return "closed"
  }
}

/** Any other failure of the store or of the connection to it; `reason` says what happened. */
export class DatabaseFailure extends Schema.TaggedError<DatabaseFailure>()("DatabaseFailure", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

export type DatabaseError = DatabaseClosed | DatabaseFailure

/** One write of a batch: `value` undefined deletes the key. */
export interface BatchOp {
  readonly key: Uint8Array
  readonly value: Uint8Array | undefined
}

export interface IterateOptions {
  /** Only keys `>= start` (bytewise). */
  readonly start?: Uint8Array | undefined
  /** Only keys that begin with `prefix`. */
  readonly prefix?: Uint8Array | undefined
}

export type Entry = readonly [key: Uint8Array, value: Uint8Array]

export interface Database {
  readonly get: (key: Uint8Array) => Effect.Effect<Option.Option<Uint8Array>, DatabaseError>
  readonly has: (key: Uint8Array) => Effect.Effect<boolean, DatabaseError>
  readonly put: (key: Uint8Array, value: Uint8Array) => Effect.Effect<void, DatabaseError>
  readonly delete: (key: Uint8Array) => Effect.Effect<void, DatabaseError>
  /** Applies every op in order, atomically: all of them or none. A later op on a key wins. */
  readonly writeBatch: (ops: ReadonlyArray<BatchOp>) => Effect.Effect<void, DatabaseError>
  /**
   * The entries with `key >= start` and `key` starting with `prefix`, keys ascending.
   * The snapshot is taken when the stream starts; its resources are released when the
   * stream ends, fails, or its consumer stops early.
   */
  readonly iterate: (options?: IterateOptions) => Stream.Stream<Entry, DatabaseError>
  /** Compacts the keys in `[start, limit]`; an absent or empty bound is unbounded. */
  readonly compact: (start?: Uint8Array, limit?: Uint8Array) => Effect.Effect<void, DatabaseError>
  /** A JSON-serialisable health report; fails once closed. */
  readonly health: Effect.Effect<unknown, DatabaseError>
  readonly close: Effect.Effect<void, DatabaseError>
}

/**
 * `bytes` as a plain `Uint8Array` over the same memory: stores and transports hand out
 * Buffers, which compare unequal to Uint8Arrays of the same bytes in deep equality checks.
 */
export const plainBytes = (bytes: Uint8Array): Uint8Array =>
  bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The bytes of `parts`, one after the other (keys built of a prefix and their parts). */
export const concatBytes = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Bytewise order: negative if `a < b`, 0 if equal, positive if `a > b`. */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

export const hasPrefix = (key: Uint8Array, prefix: Uint8Array): boolean => {
  if (key.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false
  return true
}

/**
 * The smallest key greater than every key with `prefix`, or undefined when there is none
 * (empty prefix, or a prefix of only 0xff bytes).
 */
export const prefixUpperBound = (prefix: Uint8Array): Uint8Array | undefined => {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! !== 0xff) {
      const bound = prefix.slice(0, i + 1)
      bound[i] = bound[i]! + 1
      return bound
    }
  }
  return undefined
}

/** Where an iteration over `options` starts: the larger of `start` and `prefix`. */
export const iterationLowerBound = (options: IterateOptions): Uint8Array => {
  const start = options.start ?? new Uint8Array(0)
  const prefix = options.prefix ?? new Uint8Array(0)
  return compareBytes(start, prefix) >= 0 ? start : prefix
}
