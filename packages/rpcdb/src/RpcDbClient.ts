/**
 * The VM side of rpcdb: a `Database` backed by the node's `rpcdb.Database` gRPC server at
 * `InitializeRequest.db_server_addr`. As avalanchego's `rpcdb.DatabaseClient`:
 * - the `err` enum maps back: `ERROR_NOT_FOUND` is `Option.none()` for `get` (and success for
 *   `delete`), `ERROR_CLOSED` is `DatabaseClosed`; a gRPC error status is `DatabaseFailure`;
 * - a batch sends each key once, with the last op on it;
 * - an iteration creates a server iterator, pulls batches with `IteratorNext` until one is
 *   empty, then asks `IteratorError`; `IteratorRelease` is always sent, also when the
 *   consumer stops early, the stream fails, or the fiber is interrupted.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { Effect, Option, type Scope, Stream } from "effect"
import { Database as DatabaseService, type Error as DbError } from "@vmre/proto/rpcdb/rpcdb_pb"
import { WireErrors } from "@vmre/wire"
import { GrpcClient, Tracing } from "@vmre/transport"
import { type BatchOp, type Database, DatabaseClosed, DatabaseFailure, type Entry, plainBytes } from "./Database.ts"

/** How long a best-effort `IteratorRelease` may take before it is abandoned. */
const releaseTimeoutMillis = 5_000

const toFailure = (cause: unknown): DatabaseFailure => {
  const error = ConnectError.from(cause)
  // A Go server sends its errors as UNKNOWN with the error's text: that text is the reason.
  const reason = error.code === Code.Unknown
    ? error.rawMessage
    : `${Code[error.code] ?? error.code} - ${error.rawMessage}`
  return new DatabaseFailure({ reason: reason === "" ? "rpcdb call failed without a message" : reason })
}

/** The `err` field of an answer: nothing, or the error it stands for. */
const checkErr = (
  err: DbError,
  options: { readonly notFoundIsOk: boolean }
): Effect.Effect<void, DatabaseClosed | DatabaseFailure> => {
  const failure = WireErrors.fromRpcDbErr(err)
  if (failure === undefined) return Effect.void
  if (failure === "closed") return Effect.fail(new DatabaseClosed())
  if (failure === "not-found") {
    return options.notFoundIsOk ? Effect.void : Effect.fail(new DatabaseFailure({ reason: "not found" }))
  }
  return Effect.fail(new DatabaseFailure({ reason: `unknown rpcdb error code ${failure}` }))
}

const strict = { notFoundIsOk: false }
const lenient = { notFoundIsOk: true }

const latin1 = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1")

/** A `Database` over the rpcdb server at `address` (`host:port`); the connection closes with the scope. */
export const make = (address: string): Effect.Effect<Database, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { transport } = yield* GrpcClient.transport(address)
    const client = createClient(DatabaseService, transport)
    let closed = false

    // Each call a client span whose traceparent the node's rpcdb server continues.
    const call = <A>(
      method: string,
      f: (options: { readonly signal: AbortSignal; readonly headers: Record<string, string> }) => Promise<A>
    ): Effect.Effect<A, DatabaseFailure> =>
      Tracing.client("rpcdb.Database", method, (headers) =>
        Effect.tryPromise({ try: (signal) => f({ signal, headers }), catch: toFailure }))

    const release = (id: bigint): Effect.Effect<void> =>
      Effect.promise(() =>
        client.iteratorRelease({ id }, { timeoutMs: releaseTimeoutMillis }).then(
          () => undefined,
          () => undefined
        )
      )

    const iterate: Database["iterate"] = (options = {}) =>
      Stream.unwrap(
        Effect.gen(function*() {
          if (closed) return yield* new DatabaseClosed()
          const { id } = yield* Effect.acquireRelease(
            call("NewIteratorWithStartAndPrefix", (callOptions) =>
              client.newIteratorWithStartAndPrefix(
                { start: options.start ?? new Uint8Array(0), prefix: options.prefix ?? new Uint8Array(0) },
                callOptions
              )
            ),
            ({ id }) => release(id)
          )
          type Page = readonly [ReadonlyArray<Entry>, Option.Option<void>]
          const finish: Effect.Effect<Page, DatabaseClosed | DatabaseFailure> = call("IteratorError", (callOptions) =>
            client.iteratorError({ id }, callOptions)
          ).pipe(
            Effect.flatMap(({ err }) => checkErr(err, strict)),
            Effect.as<Page>([[], Option.none()])
          )
          return Stream.paginate(undefined, (): Effect.Effect<Page, DatabaseClosed | DatabaseFailure> =>
            Effect.suspend(() => {
              if (closed) return Effect.fail(new DatabaseClosed())
              return call("IteratorNext", (callOptions) => client.iteratorNext({ id }, callOptions)).pipe(
                Effect.flatMap(({ data }) =>
                  data.length === 0
                    ? finish
                    : Effect.succeed<Page>([
                      data.map(({ key, value }): Entry => [plainBytes(key), plainBytes(value)]),
                      Option.some(undefined)
                    ])
                )
              )
            }))
        })
      )

    const database: Database = {
      get: (key) =>
        call("Get", (callOptions) => client.get({ key }, callOptions)).pipe(
          Effect.flatMap(({ value, err }) =>
            WireErrors.fromRpcDbErr(err) === "not-found"
              ? Effect.succeed(Option.none())
              : checkErr(err, strict).pipe(Effect.as(Option.some(plainBytes(value))))
          )
        ),
      has: (key) =>
        call("Has", (callOptions) => client.has({ key }, callOptions)).pipe(
          Effect.flatMap(({ has, err }) => checkErr(err, strict).pipe(Effect.as(has)))
        ),
      put: (key, value) =>
        call("Put", (callOptions) => client.put({ key, value }, callOptions)).pipe(Effect.flatMap(({ err }) => checkErr(err, strict))),
      delete: (key) =>
        call("Delete", (callOptions) => client.delete({ key }, callOptions)).pipe(Effect.flatMap(({ err }) => checkErr(err, lenient))),
      writeBatch: (ops: ReadonlyArray<BatchOp>) => {
        // Only the last op on each key counts: send that one, once.
        const seen = new Set<string>()
        const puts: Array<{ key: Uint8Array; value: Uint8Array }> = []
        const deletes: Array<{ key: Uint8Array }> = []
        for (let i = ops.length - 1; i >= 0; i--) {
          const op = ops[i]!
          const id = latin1(op.key)
          if (seen.has(id)) continue
          seen.add(id)
          if (op.value === undefined) deletes.push({ key: op.key })
          else puts.push({ key: op.key, value: op.value })
        }
        return call("WriteBatch", (callOptions) => client.writeBatch({ puts, deletes }, callOptions)).pipe(
          Effect.flatMap(({ err }) => checkErr(err, strict))
        )
      },
      iterate,
      compact: (start, limit) =>
        call("Compact", (callOptions) =>
          client.compact({ start: start ?? new Uint8Array(0), limit: limit ?? new Uint8Array(0) }, callOptions)
        ).pipe(Effect.flatMap(({ err }) => checkErr(err, strict))),
      health: call("HealthCheck", (callOptions) => client.healthCheck({}, callOptions)).pipe(
        // HealthCheck has no err field: upstream sends closed as a status with the text "closed".
        Effect.catch((failure) =>
          Effect.fail(failure.reason === "closed" ? new DatabaseClosed() : failure)
        ),
        Effect.flatMap(({ details }) =>
          details.length === 0 ? Effect.succeed(null) : Effect.try({
            try: (): unknown => JSON.parse(new TextDecoder().decode(details)),
            catch: (cause) => new DatabaseFailure({ reason: `health details are not JSON - ${String(cause)}` })
          })
        )
      ),
      close: Effect.suspend(() => {
        closed = true
        return call("Close", (callOptions) => client.close({}, callOptions)).pipe(Effect.flatMap(({ err }) => checkErr(err, strict)))
      })
    }
    return database
  })
