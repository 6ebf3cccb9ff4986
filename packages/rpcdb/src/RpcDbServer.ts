/**
 * The node side of rpcdb: serves a `Database` as the `rpcdb.Database` gRPC service (plus
 * `grpc.health.v1.Health`), the server a VM finds at `InitializeRequest.db_server_addr`.
 *
 * Wire behaviour, as avalanchego's `rpcdb.DatabaseServer`:
 * - not-found and closed travel as gRPC OK with the `err` enum set (`ERROR_NOT_FOUND`,
 *   `ERROR_CLOSED`); any other failure is a gRPC error status whose text is the error;
 * - iterators live on the server under the id `NewIteratorWithStartAndPrefix` returns, taking
 *   their snapshot at creation; `IteratorNext` hands out pairs until the batch holds about
 *   128 KiB of keys and values (at least one pair), an empty batch meaning the end (or an
 *   error, which `IteratorError` then reports); `IteratorRelease` of an unknown id is OK.
 *
 * Beyond upstream: open iterators are bounded per server, and all of them are released
 * when the server's scope closes.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect"
import { Cause, Context, Effect, Exit, Pull, Result, Scope, Semaphore, Stream } from "effect"
import { Database as DatabaseService, Error as DbError } from "@vmre/proto/rpcdb/rpcdb_pb"
import { WireErrors } from "@vmre/wire"
import { GrpcServer, Health, Tracing } from "@vmre/transport"
import { type Database, DatabaseClosed, type DatabaseError, type Entry } from "./Database.ts"

/** Upstream's `iterationBatchSize`: key and value bytes per `IteratorNext` answer. */
export const iteratorBatchBytes = 128 * 1024

/** Open iterators one server allows before `NewIteratorWithStartAndPrefix` is refused. */
export const defaultMaxIterators = 1024

export interface ServeOptions {
  readonly maxIterators?: number
  readonly batchBytes?: number
  /** `"gzip"` to compress answers for clients that accept it; by default never (see GrpcServer). */
  readonly compression?: "identity" | "gzip"
}

export interface RpcDbServer {
  /** `127.0.0.1:PORT`, what goes into `InitializeRequest.db_server_addr`. */
  readonly address: string
  readonly port: number
  /** How many iterators are open (created and not yet released); for tests and metrics. */
  readonly openIterators: Effect.Effect<number>
}

interface ServerIterator {
  readonly scope: Scope.Closeable
  readonly pull: Pull.Pull<NonEmptyReadonlyArray<Entry>, DatabaseError>
  // One call at a time per iterator (upstream leaves that to the client; we enforce it).
  readonly lock: Semaphore.Semaphore
  buffer: ReadonlyArray<Entry>
  position: number
  finished: boolean
  released: boolean
  error: ConnectError | DbError | undefined
}

/** A failure of the database as it travels: an enum for closed, a status for the rest. */
const toWire = (error: DatabaseError): ConnectError | DbError =>
  error instanceof DatabaseClosed ? WireErrors.toRpcDbErr("closed") : new ConnectError(error.reason, Code.Unknown)

/** The failure of a pull, as the iterator keeps it until `IteratorError` asks. */
const causeToWire = (cause: Cause.Cause<DatabaseError | Cause.Done>): ConnectError | DbError => {
  const error = Cause.findError(cause)
  if (Result.isSuccess(error) && !Cause.isDone(error.success)) return toWire(error.success)
  return defectToConnect(cause)
}

const defectToConnect = (cause: Cause.Cause<unknown>): ConnectError => {
  if (Cause.hasInterruptsOnly(cause)) return new ConnectError("interrupted", Code.Canceled)
  const defect = Cause.squash(cause)
  return new ConnectError(`internal error - ${defect instanceof Error ? defect.message : String(defect)}`, Code.Internal)
}

/**
 * Runs a handler's effect to a Promise for Connect. Its typed failures are ConnectErrors
 * already; a defect or an interruption becomes one here, so that no client ever sees an
 * UNKNOWN without text.
 */
const run = <A>(effect: Effect.Effect<A, ConnectError>, context: Context.Context<never> = Context.empty()): Promise<A> =>
  Effect.runPromiseExitWith(context)(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    const error = Cause.findError(exit.cause)
    throw Result.isSuccess(error) ? error.success : defectToConnect(exit.cause)
  })

/** Answers with `ok(value)`, or `{ err: CLOSED }`, or fails with the error as a status. */
const answer = <A, B extends object>(
  effect: Effect.Effect<A, DatabaseError>,
  ok: (value: A) => B
): Effect.Effect<B | { err: DbError }, ConnectError> =>
  effect.pipe(
    Effect.map(ok),
    Effect.catch((error) => {
      const wire = toWire(error)
      return wire instanceof ConnectError ? Effect.fail(wire) : Effect.succeed({ err: wire })
    })
  )

const unknownIterator = () => new ConnectError("unknown iterator", Code.NotFound)

const empty = new Uint8Array(0)
const orUndefined = (bytes: Uint8Array): Uint8Array | undefined => (bytes.length === 0 ? undefined : bytes)

/** Serves `database` on `127.0.0.1:0` until the scope closes. */
export const serve = (
  database: Database,
  options: ServeOptions = {}
): Effect.Effect<RpcDbServer, GrpcServer.ServerListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const maxIterators = options.maxIterators ?? defaultMaxIterators
    const batchBytes = options.batchBytes ?? iteratorBatchBytes
    const iterators = new Map<bigint, ServerIterator>()
    let nextId = 0n
    let stopping = false

    const releaseIterator = (iterator: ServerIterator) =>
      Semaphore.withPermit(
        iterator.lock,
        Effect.suspend(() => {
          iterator.released = true
          iterator.buffer = []
          return Scope.close(iterator.scope, Exit.void)
        })
      )

    // Added before the server starts, so it runs after the server has stopped taking calls.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        stopping = true
        const open = [...iterators.values()]
        iterators.clear()
        return Effect.forEach(open, releaseIterator, { discard: true })
      })
    )

    const shuttingDown = () => new ConnectError("the database server is shutting down", Code.Unavailable)
    // Iterators being created: they count against the bound before they are registered.
    let creating = 0

    const newIterator = (start: Uint8Array, prefix: Uint8Array): Effect.Effect<bigint, ConnectError> =>
      Effect.uninterruptible(Effect.gen(function*() {
        if (stopping) return yield* Effect.fail(shuttingDown())
        if (iterators.size + creating >= maxIterators) {
          return yield* Effect.fail(
            new ConnectError(
              `too many open iterators (limit ${maxIterators}) - release iterators with IteratorRelease`,
              Code.ResourceExhausted
            )
          )
        }
        creating++
        yield* Effect.addFinalizer(() => Effect.sync(() => creating--))
        const scope = yield* Scope.make()
        // Not registered after all (failure, defect, shutdown): release what was opened.
        yield* Effect.addFinalizer((exit) => Exit.isFailure(exit) ? Scope.close(scope, Exit.void) : Effect.void)
        const pull = yield* Stream.toPull(
          database.iterate({ start: orUndefined(start), prefix: orUndefined(prefix) })
        ).pipe(Scope.provide(scope))
        const iterator: ServerIterator = {
          scope,
          pull,
          lock: yield* Semaphore.make(1),
          buffer: [],
          position: 0,
          finished: false,
          released: false,
          error: undefined
        }
        // Pull the first chunk now: the store takes its snapshot when iteration starts, and
        // upstream's iterators see the database as it was at NewIteratorWithStartAndPrefix.
        yield* refill(iterator)
        // The server's scope closed while this call was in flight: nothing would release it.
        if (stopping) return yield* Effect.fail(shuttingDown())
        const id = nextId++
        iterators.set(id, iterator)
        return id
      }).pipe(Effect.scoped))

    /** Pulls the next chunk into the buffer; at the end or on failure, marks the iterator. */
    const refill = (iterator: ServerIterator): Effect.Effect<void> =>
      Effect.exit(iterator.pull).pipe(
        Effect.flatMap((exit) => {
          if (Exit.isSuccess(exit)) {
            iterator.buffer = exit.value
            iterator.position = 0
          } else {
            iterator.finished = true
            if (!Pull.isDoneCause(exit.cause)) iterator.error = causeToWire(exit.cause)
            // Nothing more will be read: let go of the store's iterator now.
            return Scope.close(iterator.scope, Exit.void)
          }
          return Effect.void
        })
      )

    const nextBatch = (iterator: ServerIterator): Effect.Effect<Array<Entry>, ConnectError> =>
      Effect.gen(function*() {
        // Released by a call that ran between the lookup and this one.
        if (iterator.released) return yield* Effect.fail(unknownIterator())
        const data: Array<Entry> = []
        let size = 0
        while (size < batchBytes) {
          if (iterator.position >= iterator.buffer.length) {
            if (iterator.finished) break
            yield* refill(iterator)
            continue
          }
          const entry = iterator.buffer[iterator.position++]!
          data.push(entry)
          size += entry[0].length + entry[1].length
        }
        // Free what the answer no longer needs.
        if (iterator.position >= iterator.buffer.length) {
          iterator.buffer = []
          iterator.position = 0
        }
        return data
      }).pipe(Semaphore.withPermit(iterator.lock), Effect.uninterruptible)

    const iteratorErr = (iterator: ServerIterator): { err: DbError } => {
      if (iterator.error instanceof ConnectError) throw iterator.error
      return { err: iterator.error ?? DbError.UNSPECIFIED }
    }

    const server = yield* GrpcServer.serve((router) => {
      Health.register(router)
      // Each call a server span in the host's tracer, the child of the VM's call.
      const traced = <A>(method: string, handler: HandlerContext, effect: Effect.Effect<A, ConnectError>) =>
        run(Tracing.server("rpcdb.Database", method, Tracing.traceparentOf(handler), effect), context)
      router.service(DatabaseService, {
        has: ({ key }, h) => traced("Has", h, answer(database.has(key), (has) => ({ has }))),
        get: ({ key }, h) =>
          traced(
            "Get",
            h,
            answer(database.get(key), (value) =>
              value._tag === "Some" ? { value: value.value } : { value: empty, err: WireErrors.toRpcDbErr("not-found") })
          ),
        put: ({ key, value }, h) => traced("Put", h, answer(database.put(key, value), () => ({}))),
        delete: ({ key }, h) => traced("Delete", h, answer(database.delete(key), () => ({}))),
        compact: ({ start, limit }, h) =>
          traced("Compact", h, answer(database.compact(orUndefined(start), orUndefined(limit)), () => ({}))),
        close: (_, h) => traced("Close", h, answer(database.close, () => ({}))),
        healthCheck: (_, h) =>
          traced(
            "HealthCheck",
            h,
            database.health.pipe(
              // No err field here: upstream sends every failure, closed included, as a status.
              Effect.mapError((error) => new ConnectError(error.message, Code.Unknown)),
              Effect.flatMap((health) =>
                Effect.try({
                  try: () => ({ details: new TextEncoder().encode(JSON.stringify(health ?? null)) }),
                  catch: (cause) => new ConnectError(`health report is not JSON - ${String(cause)}`, Code.Internal)
                })
              )
            )
          ),
        writeBatch: ({ puts, deletes }, h) =>
          // The client sends each key once (the last op on it), so the order between puts
          // and deletes does not matter; upstream applies the puts first, as we do.
          traced(
            "WriteBatch",
            h,
            answer(
              database.writeBatch([
                ...puts.map(({ key, value }) => ({ key, value })),
                ...deletes.map(({ key }) => ({ key, value: undefined }))
              ]),
              () => ({})
            )
          ),
        newIteratorWithStartAndPrefix: ({ start, prefix }, h) =>
          traced("NewIteratorWithStartAndPrefix", h, newIterator(start, prefix).pipe(Effect.map((id) => ({ id })))),
        iteratorNext: ({ id }, h) => {
          const iterator = iterators.get(id)
          if (iterator === undefined) throw unknownIterator()
          return traced(
            "IteratorNext",
            h,
            nextBatch(iterator).pipe(Effect.map((data) => ({ data: data.map(([key, value]) => ({ key, value })) })))
          )
        },
        iteratorError: ({ id }) => {
          const iterator = iterators.get(id)
          if (iterator === undefined) throw unknownIterator()
          return iteratorErr(iterator)
        },
        iteratorRelease: async ({ id }) => {
          const iterator = iterators.get(id)
          if (iterator === undefined) return {}
          iterators.delete(id)
          await run(releaseIterator(iterator), context)
          return iteratorErr(iterator)
        }
      })
    }, options.compression === undefined ? {} : { compression: options.compression })

    return {
      address: server.address,
      port: server.port,
      openIterators: Effect.sync(() => iterators.size)
    }
  })
