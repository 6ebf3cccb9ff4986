import { describe, expect, it } from "@effect/vitest"
import { MemoryDatabase } from "@vmre/rpcdb"
import { Ids } from "@vmre/wire"
import { Effect, Option, Stream } from "effect"
import * as PrefixDatabase from "../src/PrefixDatabase.ts"
import { chainIdOf } from "./support.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe("PrefixDatabase", () => {
  it("lays a chain's keys out as the flavour's node does", () => {
    const chainId = chainIdOf(7)
    const avalanche = PrefixDatabase.chainVmPrefix("avalanchego", chainId)
    expect(Ids.toHex(avalanche)).toBe(Ids.toHex(Ids.sha256(new Uint8Array([...Ids.sha256(chainId), ...utf8("vm")]))))
    expect(avalanche.length).toBe(32)
    expect(PrefixDatabase.chainVmPrefix("luxd", chainId)).toEqual(new Uint8Array([...chainId, ...utf8("vm")]))
  })

  it.effect("two chains on one store never see each other's keys", () =>
    Effect.gen(function*() {
      const store = yield* MemoryDatabase.make
      const a = yield* PrefixDatabase.make(store, PrefixDatabase.chainVmPrefix("avalanchego", chainIdOf(1)))
      const b = yield* PrefixDatabase.make(store, PrefixDatabase.chainVmPrefix("avalanchego", chainIdOf(2)))
      yield* a.put(utf8("k"), utf8("from a"))
      yield* b.writeBatch([{ key: utf8("k"), value: utf8("from b") }, { key: utf8("only-b"), value: utf8("1") }])
      expect(Option.map(yield* a.get(utf8("k")), text)).toEqual(Option.some("from a"))
      expect(Option.map(yield* b.get(utf8("k")), text)).toEqual(Option.some("from b"))
      expect(yield* a.has(utf8("only-b"))).toBe(false)
      // Iteration hands out keys without the prefix, and only the chain's own.
      const keysOf = (db: typeof a, options?: { start?: Uint8Array; prefix?: Uint8Array }) =>
        Effect.map(Stream.runCollect(db.iterate(options)), (entries) => entries.map(([k]) => text(k)))
      expect(yield* keysOf(a)).toEqual(["k"])
      expect(yield* keysOf(b)).toEqual(["k", "only-b"])
      expect(yield* keysOf(b, { prefix: utf8("only") })).toEqual(["only-b"])
      expect(yield* keysOf(b, { start: utf8("l") })).toEqual(["only-b"])
      // The store holds three keys, each behind its chain's prefix.
      const stored = yield* Stream.runCollect(store.iterate())
      expect(stored.length).toBe(3)
      yield* a.delete(utf8("k"))
      expect(yield* b.has(utf8("k"))).toBe(true)
    }))

  it.effect("closing a chain's view closes the view only", () =>
    Effect.gen(function*() {
      const store = yield* MemoryDatabase.make
      const a = yield* PrefixDatabase.make(store, utf8("a"))
      yield* a.put(utf8("k"), utf8("v"))
      yield* a.close
      expect((yield* Effect.flip(a.get(utf8("k"))))._tag).toBe("DatabaseClosed")
      expect((yield* Effect.flip(a.close))._tag).toBe("DatabaseClosed")
      expect(Option.isSome(yield* store.get(utf8("ak")))).toBe(true)
      const again = yield* PrefixDatabase.make(store, utf8("a"))
      expect(Option.map(yield* again.get(utf8("k")), text)).toEqual(Option.some("v"))
    }))
})
