// Random operation sequences against a model (a map kept in key order), through the VM's
// RpcDbClient, loopback gRPC and RpcDbServer, in front of LevelDB and in front of memory.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, type Scope, Stream } from "effect"
import fc from "fast-check"
import { compareBytes, type Database, hasPrefix, type IterateOptions } from "../src/Database.ts"
import * as LevelDatabase from "../src/LevelDatabase.ts"
import * as MemoryDatabase from "../src/MemoryDatabase.ts"
import { hex, overGrpc, tempDir } from "./support.ts"

type Op =
  | { readonly type: "put"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: "delete"; readonly key: Uint8Array }
  | {
    readonly type: "batch"
    readonly ops: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array | undefined }>
  }
  | { readonly type: "get"; readonly key: Uint8Array }
  | { readonly type: "has"; readonly key: Uint8Array }
  | {
    readonly type: "iterate"
    readonly start: Uint8Array | undefined
    readonly prefix: Uint8Array | undefined
    readonly take: number | undefined
  }

// Few distinct bytes (0xff among them) and short keys: collisions, shared prefixes, the
// empty key and all-0xff prefixes come up often.
const keyArb = fc.array(fc.constantFrom(0x00, 0x01, 0x7f, 0xff), { maxLength: 3 }).map((b) => Uint8Array.from(b))
const valueArb = fc.uint8Array({ maxLength: 12 })
const optional = <A>(arb: fc.Arbitrary<A>) => fc.option(arb, { nil: undefined })

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant("put" as const), key: keyArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("delete" as const), key: keyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant("batch" as const),
      ops: fc.array(fc.record({ key: keyArb, value: optional(valueArb) }), { maxLength: 6 })
    })
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("get" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("has" as const), key: keyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant("iterate" as const),
      start: optional(keyArb),
      prefix: optional(keyArb),
      take: optional(fc.integer({ min: 0, max: 4 }))
    })
  }
)

/** The model: latin1 key string -> [key, value]. */
type Model = Map<string, readonly [Uint8Array, Uint8Array]>
const id = (key: Uint8Array) => Buffer.from(key).toString("latin1")

const modelIterate = (model: Model, options: IterateOptions) =>
  [...model.values()]
    .filter(([key]) =>
      (options.start === undefined || compareBytes(key, options.start) >= 0) &&
      (options.prefix === undefined || hasPrefix(key, options.prefix))
    )
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([key, value]) => [hex(key), hex(value)] as const)

const check = (db: Database, ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const model: Model = new Map()
    for (const op of ops) {
      switch (op.type) {
        case "put":
          yield* db.put(op.key, op.value)
          model.set(id(op.key), [op.key, op.value])
          break
        case "delete":
          yield* db.delete(op.key)
          model.delete(id(op.key))
          break
        case "batch":
          yield* db.writeBatch(op.ops)
          for (const { key, value } of op.ops) {
            if (value === undefined) model.delete(id(key))
            else model.set(id(key), [key, value])
          }
          break
        case "get": {
          const got = yield* db.get(op.key)
          const expected = model.get(id(op.key))
          expect(Option.map(got, hex)).toEqual(expected === undefined ? Option.none() : Option.some(hex(expected[1])))
          break
        }
        case "has":
          expect(yield* db.has(op.key)).toBe(model.has(id(op.key)))
          break
        case "iterate": {
          const options = { start: op.start, prefix: op.prefix }
          const stream = op.take === undefined ? db.iterate(options) : db.iterate(options).pipe(Stream.take(op.take))
          const got = (yield* Stream.runCollect(stream)).map(([k, v]) => [hex(k), hex(v)] as const)
          const expected = modelIterate(model, options)
          expect(got).toEqual(op.take === undefined ? expected : expected.slice(0, op.take))
          break
        }
      }
    }
    expect((yield* Stream.runCollect(db.iterate())).map(([k, v]) => [hex(k), hex(v)] as const)).toEqual(
      modelIterate(model, {})
    )
  })

const property = (backing: Effect.Effect<Database, unknown, Scope.Scope>, numRuns: number) =>
  Effect.promise(() =>
    fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), (ops) =>
        Effect.runPromise(
          Effect.scoped(
            Effect.gen(function*() {
              const { database, openIterators } = yield* overGrpc(backing)
              yield* check(database, ops)
              // Every iteration, the ones stopped early included, has been released.
              expect(yield* openIterators).toBe(0)
            })
          )
        )),
      { numRuns }
    )
  )

describe("property: RpcDbClient -> gRPC -> RpcDbServer behaves like a sorted map", () => {
  it.live("over LevelDB", () =>
    property(
      Effect.gen(function*() {
        return yield* LevelDatabase.open(`${yield* tempDir}/db`)
      }),
      60
    ), 60_000)

  it.live("over memory", () => property(MemoryDatabase.make, 100), 60_000)
})
