/**
 * Atomic cross-chain memory (avalanchego's `chains/atomic`, served to VMs as
 * `sharedmemory.SharedMemory`), on the node's store. Each unordered pair of chains shares one
 * space with two directions: what chain A puts for peer B only B reads (Get/Indexed with
 * `peer_chain_id` = A), and B's removes consume it. Removing an absent key leaves a tombstone
 * that the peer's later put of that key cancels; a second remove and a put of a present key
 * fail. `apply` is all or nothing: the shared-memory changes and the caller's own chain-database
 * batches go to the store in one atomic write.
 */
import { Database } from "@vmre/rpcdb"
import { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Option, Schema, Semaphore, Stream } from "effect"
import { NodeConfig } from "../NodeConfig.ts"
import { NodeDatabase } from "../NodeDatabase.ts"
import * as PrefixDatabase from "../PrefixDatabase.ts"

/** A refused request; the text is what the Go nodes answer. */
export class SharedMemoryError extends Schema.TaggedError<SharedMemoryError>()("SharedMemoryError", { reason: Schema.String }) {
  override get message() {
    return this.reason
  }
}

export interface Element {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly traits: ReadonlyArray<Uint8Array>
}

export interface AtomicRequest {
  readonly peerChainId: Ids.Id
  /** Keys the peer put for the caller, to consume. */
  readonly removes: ReadonlyArray<Uint8Array>
  /** Elements the caller puts for the peer. */
  readonly puts: ReadonlyArray<Element>
}

/** The caller's own chain-database writes, applied in order with the shared-memory changes. */
export interface Batch {
  readonly puts: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>
  readonly deletes: ReadonlyArray<Uint8Array>
}

export interface IndexedPage {
  readonly values: ReadonlyArray<Uint8Array>
  readonly lastTrait: Uint8Array
  readonly lastKey: Uint8Array
}

export interface SharedMemoryShape {
  readonly get: (caller: Ids.Id, peer: Ids.Id, keys: ReadonlyArray<Uint8Array>) => Effect.Effect<ReadonlyArray<Uint8Array>, SharedMemoryError>
  readonly indexed: (caller: Ids.Id, peer: Ids.Id, query: {
    readonly traits: ReadonlyArray<Uint8Array>
    readonly startTrait: Uint8Array
    readonly startKey: Uint8Array
    readonly limit: number
  }) => Effect.Effect<IndexedPage, SharedMemoryError>
  readonly apply: (caller: Ids.Id, requests: ReadonlyArray<AtomicRequest>, batches: ReadonlyArray<Batch>) => Effect.Effect<void, SharedMemoryError>
}

const utf8 = (text: string) => new TextEncoder().encode(text)
const concat = Database.concatBytes
const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const u64 = (n: bigint) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, n)
  return b
}
const hex = (bytes: Uint8Array) => `0x${Ids.toHex(bytes)}`
const compare = Database.compareBytes

// The node store's layout (ours: node-internal, not on any wire).
const ROOT = Ids.sha256(utf8("vmre shared memory"))
const MAX_SEQ = 0xffff_ffff_ffff_ffffn
const spaceOf = (a: Uint8Array, b: Uint8Array) => Ids.sha256(compare(a, b) <= 0 ? concat(a, b) : concat(b, a))
/** Keys of the direction `reader` reads in the pair's space. */
const keys = (space: Uint8Array, reader: Uint8Array) => {
  const base = concat(ROOT, space, reader)
  return {
    value: (key: Uint8Array) => concat(base, utf8("v"), key),
    tombstone: (key: Uint8Array) => concat(base, utf8("r"), key),
    seq: concat(base, utf8("s")),
    traitPrefix: (trait: Uint8Array) => concat(base, utf8("i"), u32(trait.length), trait),
    // Newest first: the sequence number inverted.
    index: (trait: Uint8Array, seq: bigint, key: Uint8Array) => concat(base, utf8("i"), u32(trait.length), trait, u64(MAX_SEQ - seq), key)
  }
}

/** A stored element: its value, its sequence number and traits (to remove its index entries). */
const encodeStored = (value: Uint8Array, seq: bigint, traits: ReadonlyArray<Uint8Array>) =>
  concat(u32(value.length), value, u64(seq), u32(traits.length), ...traits.flatMap((t) => [u32(t.length), t]))

const decodeStored = (bytes: Uint8Array) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const vlen = view.getUint32(0)
  const value = bytes.slice(4, 4 + vlen)
  const seq = view.getBigUint64(4 + vlen)
  const count = view.getUint32(12 + vlen)
  const traits: Array<Uint8Array> = []
  let at = 16 + vlen
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(at)
    traits.push(bytes.slice(at + 4, at + 4 + len))
    at += 4 + len
  }
  return { value, seq, traits }
}

export class SharedMemory extends Context.Service<SharedMemory, SharedMemoryShape>()("@vmre/node/SharedMemory") {
  /** On the node's store; the caller's batches go to its chain's prefixed database (the flavour's layout). */
  static readonly layer: Layer.Layer<SharedMemory, never, NodeDatabase | NodeConfig> = Layer.effect(
    SharedMemory,
    Effect.gen(function*() {
      const db = yield* NodeDatabase
      const node = yield* NodeConfig
      // Applies are serialized: each reads what it changes.
      const lock = yield* Semaphore.make(1)
      const failed = (error: { readonly message: string }) => new SharedMemoryError({ reason: error.message })
      const read = (key: Uint8Array) => db.get(key).pipe(Effect.mapError(failed))

      const get: SharedMemoryShape["get"] = (caller, peer, wanted) =>
        Effect.forEach(wanted, (key) =>
          Effect.flatMap(read(keys(spaceOf(caller, peer), caller).value(key)), (stored) =>
            Option.isNone(stored) ? Effect.fail(new SharedMemoryError({ reason: "not found" })) : Effect.succeed(decodeStored(stored.value).value)))

      const indexed: SharedMemoryShape["indexed"] = (caller, peer, query) =>
        Effect.gen(function*() {
          const k = keys(spaceOf(caller, peer), caller)
          const traits = [...new Map(query.traits.map((t) => [Ids.toHex(t), t])).values()]
            .sort(compare)
            .filter((t) => compare(t, query.startTrait) >= 0)
          const values: Array<Uint8Array> = []
          const seen = new Set<string>()
          let lastTrait: Uint8Array = new Uint8Array(0)
          let lastKey: Uint8Array = new Uint8Array(0)
          for (const trait of traits) {
            if (values.length >= query.limit) break
            const prefix = k.traitPrefix(trait)
            const listed = yield* Stream.runCollect(db.iterate({ prefix })).pipe(Effect.mapError(failed))
            const keysOf = listed.map(([entry]) => entry.slice(prefix.length + 8))
            // Resuming: from start_key itself when it is in start_trait's list, else from its head.
            let from = 0
            if (Ids.equals(trait, query.startTrait) && query.startKey.length > 0) {
              const at = keysOf.findIndex((key) => Ids.equals(key, query.startKey))
              if (at >= 0) from = at
            }
            for (const key of keysOf.slice(from)) {
              if (values.length >= query.limit) break
              if (seen.has(Ids.toHex(key))) continue
              seen.add(Ids.toHex(key))
              const stored = yield* read(k.value(key))
              if (Option.isNone(stored)) continue
              values.push(decodeStored(stored.value).value)
              lastTrait = trait
              lastKey = key
            }
          }
          return { values, lastTrait, lastKey }
        })

      const apply: SharedMemoryShape["apply"] = (caller, requests, batches) =>
        lock.withPermits(1)(Effect.gen(function*() {
          // What this apply has written so far (null: deleted), read before the store.
          const overlay = new Map<string, Uint8Array | null>()
          const ops: Array<{ readonly key: Uint8Array; readonly value: Uint8Array | undefined }> = []
          const current = (key: Uint8Array) =>
            Effect.suspend(() => {
              const pending = overlay.get(Ids.toHex(key))
              return pending !== undefined ? Effect.succeed(pending === null ? Option.none() : Option.some(pending)) : read(key)
            })
          const put = (key: Uint8Array, value: Uint8Array) => {
            overlay.set(Ids.toHex(key), value)
            ops.push({ key, value })
          }
          const del = (key: Uint8Array) => {
            overlay.set(Ids.toHex(key), null)
            ops.push({ key, value: undefined })
          }
          // The same peer twice: the last entry wins.
          const byPeer = new Map(requests.map((r) => [Ids.toHex(r.peerChainId), r]))
          for (const request of byPeer.values()) {
            const space = spaceOf(caller, request.peerChainId)
            const mine = keys(space, caller)
            const theirs = keys(space, request.peerChainId)
            for (const key of request.removes) {
              const stored = yield* current(mine.value(key))
              if (Option.isSome(stored)) {
                const { seq, traits } = decodeStored(stored.value)
                del(mine.value(key))
                for (const trait of traits) del(mine.index(trait, seq, key))
              } else if (Option.isSome(yield* current(mine.tombstone(key)))) {
                return yield* new SharedMemoryError({ reason: `duplicate remove: Key=${hex(key)}` })
              } else {
                put(mine.tombstone(key), new Uint8Array(0))
              }
            }
            for (const element of request.puts) {
              if (Option.isSome(yield* current(theirs.tombstone(element.key)))) {
                del(theirs.tombstone(element.key))
                continue
              }
              if (Option.isSome(yield* current(theirs.value(element.key)))) {
                return yield* new SharedMemoryError({ reason: `duplicate put: Key=${hex(element.key)} Value=${hex(element.value)}` })
              }
              const last = yield* current(theirs.seq)
              const seq = Option.isNone(last) ? 0n : new DataView(last.value.buffer, last.value.byteOffset).getBigUint64(0) + 1n
              put(theirs.seq, u64(seq))
              put(theirs.value(element.key), encodeStored(element.value, seq, element.traits))
              for (const trait of element.traits) put(theirs.index(trait, seq, element.key), new Uint8Array(0))
            }
          }
          const chainPrefix = PrefixDatabase.chainVmPrefix(node.flavour, caller)
          for (const batch of batches) {
            for (const { key, value } of batch.puts) ops.push({ key: concat(chainPrefix, key), value })
            for (const key of batch.deletes) ops.push({ key: concat(chainPrefix, key), value: undefined })
          }
          yield* db.writeBatch(ops).pipe(Effect.mapError(failed))
        }))

      return { get, indexed, apply }
    })
  )
}
