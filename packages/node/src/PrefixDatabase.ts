/**
 * A chain's view of the node's store: every key it writes is stored behind a prefix, so two
 * chains on one store never see each other's keys.
 *
 * The prefix is the one the flavour's node uses, so that a store written by vmre lays keys
 * out as that node would:
 * - avalanchego (prefixdb, nested): SHA-256(chain id), then SHA-256(that ‖ "vm");
 * - luxd: the raw concatenation chain id ‖ "vm".
 *
 * Closing a prefixed view closes the view only (later calls fail with `DatabaseClosed`); the
 * node's store stays open for the other chains. (luxd passes Close through to its store;
 * we do not reproduce that, as it would close every chain's database at once.)
 */
import { Database } from "@vmre/rpcdb"
import { Ids } from "@vmre/wire"
import { Effect, Stream } from "effect"
import type { NodeFlavour } from "./NodeFlavour.ts"

type Db = Database.Database

const utf8 = (text: string) => new TextEncoder().encode(text)

const concat = Database.concatBytes

/** The prefix under which a chain's VM keys live in the node's store. */
export const chainVmPrefix = (flavour: NodeFlavour, chainId: Ids.Id): Uint8Array =>
  flavour === "luxd" ?
    concat(chainId, utf8("vm")) :
    Ids.sha256(concat(Ids.sha256(chainId), utf8("vm")))

/** `db` seen through `prefix`: keys are stored as prefix ‖ key and handed out without it. */
export const make = (db: Db, prefix: Uint8Array): Effect.Effect<Db> =>
  Effect.sync(() => {
    let closed = false
    const open = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | Database.DatabaseClosed> =>
      Effect.suspend((): Effect.Effect<A, E | Database.DatabaseClosed> => closed ? Effect.fail(new Database.DatabaseClosed()) : effect)
    const key = (k: Uint8Array) => concat(prefix, k)
    const unprefixed = (k: Uint8Array) => k.subarray(prefix.length)
    // The end of the prefix's key range, for unbounded compactions.
    const upper = Database.prefixUpperBound(prefix)

    return {
      get: (k) => open(db.get(key(k))),
      has: (k) => open(db.has(key(k))),
      put: (k, v) => open(db.put(key(k), v)),
      delete: (k) => open(db.delete(key(k))),
      writeBatch: (ops) => open(db.writeBatch(ops.map((op) => ({ key: key(op.key), value: op.value })))),
      iterate: (options = {}) =>
        Stream.unwrap(open(Effect.succeed(
          db.iterate({
            prefix: concat(prefix, options.prefix ?? new Uint8Array(0)),
            ...(options.start === undefined ? {} : { start: key(options.start) })
          }).pipe(Stream.map(([k, v]): Database.Entry => [unprefixed(k), v]))
        ))),
      compact: (start, limit) =>
        open(db.compact(
          key(start ?? new Uint8Array(0)),
          limit === undefined || limit.length === 0 ? upper : key(limit)
        )),
      health: open(db.health),
      close: open(Effect.sync(() => {
        closed = true
      }))
    } satisfies Db
  })
