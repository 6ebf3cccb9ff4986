/** Shared helpers of the rpcdb tests: temporary directories, byte helpers, the backends. */
import { Effect, type Scope, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Database, Entry } from "../src/Database.ts"
import * as LevelDatabase from "../src/LevelDatabase.ts"
import * as MemoryDatabase from "../src/MemoryDatabase.ts"
import * as RpcDbClient from "../src/RpcDbClient.ts"
import * as RpcDbServer from "../src/RpcDbServer.ts"

/** A fresh directory, removed with everything in it when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "vmre-rpcdb-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

export const bytes = (...values: Array<number>): Uint8Array => Uint8Array.from(values)
export const text = (value: string): Uint8Array => new TextEncoder().encode(value)
export const hex = (value: Uint8Array): string => Buffer.from(value).toString("hex")

/** A deterministic value of `size` bytes that depends on `seed`. */
export const filled = (size: number, seed: number): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (seed * 31 + i * 7) & 0xff
  return out
}

/** A 4-byte big-endian key, so that numeric order is key order. */
export const key32 = (n: number): Uint8Array => {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

export const collect = (stream: Stream.Stream<Entry, unknown>) =>
  Stream.runCollect(stream).pipe(Effect.map((entries) => entries.map(([k, v]) => [hex(k), hex(v)] as const)))

export const collectKeys = (stream: Stream.Stream<Entry, unknown>) =>
  Stream.runCollect(stream).pipe(Effect.map((entries) => entries.map(([k]) => hex(k))))

export interface Subject {
  readonly database: Database
  /** The rpcdb server's open iterators, when the subject talks to one. */
  readonly openIterators?: Effect.Effect<number>
}

export interface Backend {
  readonly name: string
  readonly make: Effect.Effect<Subject, unknown, Scope.Scope>
}

export const memory: Backend = {
  name: "MemoryDatabase",
  make: Effect.map(MemoryDatabase.make, (database) => ({ database }))
}

export const level: Backend = {
  name: "LevelDatabase",
  make: Effect.gen(function*() {
    const dir = yield* tempDir
    return { database: yield* LevelDatabase.open(join(dir, "db")) }
  })
}

/** The VM's view: RpcDbClient over loopback gRPC to an RpcDbServer in front of `backing`. */
export const overGrpc = (backing: Effect.Effect<Database, unknown, Scope.Scope>, options?: RpcDbServer.ServeOptions) =>
  Effect.gen(function*() {
    const server = yield* RpcDbServer.serve(yield* backing, options)
    const database = yield* RpcDbClient.make(server.address)
    return { database, openIterators: server.openIterators, server }
  })

export const grpcLevel: Backend = {
  name: "RpcDbClient -> RpcDbServer -> LevelDatabase",
  make: overGrpc(Effect.map(level.make, (subject) => subject.database))
}

export const backends: ReadonlyArray<Backend> = [memory, level, grpcLevel]

/** Polls `effect` until `predicate` holds, for at most `timeoutMillis`; returns the last value. */
export const eventually = <A, E>(
  effect: Effect.Effect<A, E>,
  predicate: (a: A) => boolean,
  timeoutMillis = 5_000
): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    let value = yield* effect
    while (!predicate(value) && Date.now() < deadline) {
      yield* Effect.sleep("10 millis")
      value = yield* effect
    }
    return value
  })
