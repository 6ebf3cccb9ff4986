/**
 * The node's per-request server of a streamed HTTP request under a VM that misbehaves: a
 * status no server can send, a hijack, a read asking for 2 GiB, writes after the client went
 * away. Each gets an answer within a bound; the client gets a valid response or a closed
 * connection; nothing is left open.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { Writer } from "@vmre/proto/http/responsewriter/responsewriter_pb"
import { ErrorCode, Reader } from "@vmre/proto/io/reader/reader_pb"
import { GrpcClient } from "@vmre/transport"
import { Deferred, Effect, Exit, Scope } from "effect"
import * as http from "node:http"
import * as RequestServer from "../src/http/RequestServer.ts"

/** A node HTTP server whose one request is handed to `RequestServer`; `vm` plays the VM with its address. */
const serveOne = (vm: (address: string, res: http.ServerResponse) => Promise<void>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const server = yield* Effect.acquireRelease(
      Effect.promise(() =>
        new Promise<http.Server>((resolve) => {
          const server = http.createServer((req, res) => {
            const scope = Effect.runSync(Scope.make())
            Effect.runPromise(Scope.provide(scope)(RequestServer.serve(req, res, "avalanchego")))
              .then((address) => vm(address, res))
              .finally(() => {
                if (!res.writableEnded && !res.destroyed) res.end()
                Effect.runPromise(Effect.andThen(Scope.close(scope, Exit.void), Deferred.succeed(done, undefined)))
              })
          })
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
      ),
      (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
    )
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/x`, done: Deferred.await(done) }
  })

const clients = (address: string) =>
  Effect.map(GrpcClient.transport(address), ({ transport }) => ({ writer: createClient(Writer, transport), reader: createClient(Reader, transport) }))

describe("the node's per-request response writer under a misbehaving VM", () => {
  it.live("a status outside 100-599 becomes 500; a hijack is refused with Go's words; a 2 GiB read is capped", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const { url, done } = yield* serveOne(async (address) => {
        await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const { reader, writer } = yield* clients(address)
          const read = yield* Effect.promise(() => reader.read({ length: 0x7fffffff }))
          seen.push(read.read.length, read.error?.errorCode)
          const eof = yield* Effect.promise(() => reader.read({ length: 10 }))
          seen.push(eof.error?.errorCode)
          const hijack = yield* Effect.promise(() => writer.hijack({}).then(() => "hijacked", (e) => ConnectError.from(e).rawMessage))
          seen.push(hijack)
          yield* Effect.promise(() => writer.writeHeader({ headers: [{ key: "X-Odd", values: ["1"] }], statusCode: 99999 }))
          yield* Effect.promise(() => writer.write({ headers: [{ key: "X-Odd", values: ["1"] }], payload: new TextEncoder().encode("body") }))
        })))
      })
      const response = yield* Effect.promise(() => fetch(url, { method: "POST", body: "three" }))
      expect([response.status, response.headers.get("x-odd"), yield* Effect.promise(() => response.text())]).toEqual([500, "1", "body"])
      yield* done
      expect(seen).toEqual([5, undefined, ErrorCode.EOF, "response writer doesn't support hijacking"])
    }).pipe(Effect.scoped))

  it.live("writes after the client went away fail as Canceled; the request's server closes", () =>
    Effect.gen(function*() {
      const results: Array<string> = []
      const gone = yield* Deferred.make<void>()
      const { url, done } = yield* serveOne(async (address, res) => {
        res.once("close", () => Effect.runSync(Deferred.succeed(gone, undefined)))
        await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const { writer } = yield* clients(address)
          yield* Effect.promise(() => writer.writeHeader({ headers: [], statusCode: 200 }))
          yield* Effect.promise(() => writer.write({ headers: [], payload: new Uint8Array(10) }))
          yield* Deferred.await(gone)
          const late = yield* Effect.promise(() =>
            writer.write({ headers: [], payload: new Uint8Array(10) }).then(() => "written", (e) => Code[ConnectError.from(e).code])
          )
          results.push(late)
        })))
      })
      const controller = new AbortController()
      const response = yield* Effect.promise(() => fetch(url, { signal: controller.signal }))
      const reader = response.body!.getReader()
      yield* Effect.promise(() => reader.read())
      controller.abort()
      yield* done.pipe(Effect.timeout("10 seconds"))
      expect(results).toEqual(["Canceled"])
    }).pipe(Effect.scoped))
})
