/**
 * A persistent `Database` in a LevelDB directory (the store avalanchego has used for its
 * chains), through `classic-level`, whose npm package ships prebuilt N-API binaries.
 * Keys and values are raw bytes; LevelDB's default comparator orders keys bytewise.
 */
import { ClassicLevel } from "classic-level"
import { Effect, Option, Scope, Stream } from "effect"
import {
  type BatchOp,
  compareBytes,
  type Database,
  DatabaseClosed,
  DatabaseFailure,
  type Entry,
  hasPrefix,
  type IterateOptions,
  iterationLowerBound,
  plainBytes,
  prefixUpperBound
} from "./Database.ts"

export interface LevelOptions {
  /** Create the directory and database when missing (default true). */
  readonly createIfMissing?: boolean
  /** Fail when a database already exists there (default false). */
  readonly errorIfExists?: boolean
}

type Level = ClassicLevel<Uint8Array, Uint8Array>

// Entries one native call reads: at most this many, and it stops early past this many bytes.
const readAheadEntries = 1_000
const readAheadBytes = 64 * 1024

const notOpenCodes = new Set(["LEVEL_DATABASE_NOT_OPEN", "LEVEL_ITERATOR_NOT_OPEN", "LEVEL_DATABASE_CLOSED"])

const toError = (cause: unknown): DatabaseClosed | DatabaseFailure => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  if (code !== undefined && notOpenCodes.has(code)) return new DatabaseClosed()
  return new DatabaseFailure({ reason: cause instanceof Error ? cause.message : String(cause) })
}


/**
 * Opens (creating if missing) the LevelDB database at `path`; it is closed when the scope
 * closes, unless `close` closed it before.
 */
export const open = (path: string, options: LevelOptions = {}): Effect.Effect<Database, DatabaseFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const level: Level = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: "view", valueEncoding: "view" })
    const state = { closed: false }
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          level.open({
            createIfMissing: options.createIfMissing ?? true,
            errorIfExists: options.errorIfExists ?? false
          }),
        catch: (cause) => {
          const reason = cause instanceof Error
            ? [cause.message, cause.cause instanceof Error ? cause.cause.message : undefined].filter(Boolean).join(" - ")
            : String(cause)
          return new DatabaseFailure({ reason: `cannot open the LevelDB database at ${path} - ${reason}` })
        }
      }),
      () =>
        Effect.promise(async () => {
          if (state.closed) return
          state.closed = true
          await level.close().catch(() => undefined)
        })
    )
    return make(level, state)
  })

const make = (level: Level, state: { closed: boolean }): Database => {
  const call = <A>(f: () => Promise<A>): Effect.Effect<A, DatabaseClosed | DatabaseFailure> =>
    Effect.suspend(() =>
      state.closed ? Effect.fail(new DatabaseClosed()) : Effect.tryPromise({ try: f, catch: toError })
    )

  const iterate = (options: IterateOptions = {}): Stream.Stream<Entry, DatabaseClosed | DatabaseFailure> => {
    const prefix = options.prefix ?? new Uint8Array(0)
    const upper = prefixUpperBound(prefix)
    return Stream.unwrap(
      Effect.gen(function*() {
        if (state.closed) return yield* new DatabaseClosed()
        // The iterator takes its snapshot here, when the stream starts.
        const iterator = yield* Effect.acquireRelease(
          Effect.try({
            try: () =>
              level.iterator({
                gte: iterationLowerBound(options),
                ...(upper === undefined ? {} : { lt: upper }),
                highWaterMarkBytes: readAheadBytes
              }),
            catch: toError
          }),
          (iterator) => Effect.promise(() => iterator.close().catch(() => undefined))
        )
        return Stream.paginate(false, (_: boolean) =>
          Effect.tryPromise({ try: () => iterator.nextv(readAheadEntries), catch: toError }).pipe(
            Effect.map((batch) => {
              const entries: Array<Entry> = []
              for (const [key, value] of batch) {
                // lt bounds the prefix already; this guards the all-0xff prefix case.
                if (!hasPrefix(key, prefix)) break
                entries.push([plainBytes(key), plainBytes(value)])
              }
              const more = batch.length > 0 && entries.length === batch.length
              return [entries, more ? Option.some(true) : Option.none<boolean>()] as const
            })
          ))
      })
    )
  }

  return {
    get: (key) =>
      call(() => level.get(key)).pipe(Effect.map((value) => Option.map(Option.fromUndefinedOr(value), plainBytes))),
    has: (key) => call(() => level.has(key)),
    put: (key, value) => call(() => level.put(key, value)),
    delete: (key) => call(() => level.del(key)),
    writeBatch: (ops: ReadonlyArray<BatchOp>) =>
      call(() =>
        level.batch(
          ops.map((op) =>
            op.value === undefined
              ? { type: "del" as const, key: op.key }
              : { type: "put" as const, key: op.key, value: op.value }
          )
        )
      ),
    iterate,
    compact: (start, limit) =>
      call(async () => {
        const from = start ?? new Uint8Array(0)
        let to = limit !== undefined && limit.length > 0 ? limit : undefined
        if (to === undefined) {
          // LevelDB takes an inclusive end: the last key stands for "unbounded".
          const [last] = await level.keys({ reverse: true, limit: 1 }).all()
          if (last === undefined) return
          to = last
        }
        if (compareBytes(from, to) > 0) return
        await level.compactRange(from, to)
      }),
    health: Effect.suspend(() => (state.closed ? Effect.fail(new DatabaseClosed()) : Effect.succeed(null))),
    close: Effect.suspend(() => {
      if (state.closed) return Effect.fail(new DatabaseClosed())
      state.closed = true
      return Effect.tryPromise({ try: () => level.close(), catch: toError })
    })
  }
}
