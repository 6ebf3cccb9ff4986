/**
 * Bad input to the SDK's `http.HTTP` server (one VM handler) from a node that misbehaves:
 * methods and targets no HTTP request can have, a Handle without its parts or pointing at a
 * response writer that is not there, a body reader that fails or claims more than it sends.
 * Each gets a gRPC error within a bound (or a 500 from the handler's side), and the server
 * keeps serving.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { HTTP } from "@vmre/proto/http/http_pb"
import { Writer } from "@vmre/proto/http/responsewriter/responsewriter_pb"
import { ErrorCode, Reader } from "@vmre/proto/io/reader/reader_pb"
import { GrpcClient, GrpcServer } from "@vmre/transport"
import { Effect } from "effect"
import * as HttpHandlers from "../src/HttpHandlers.ts"
import { serveHandler } from "../src/vmserver/HttpRpcs.ts"

const echo = HttpHandlers.web("", async (request) => new Response(await request.text(), { status: 200 }))

const served = Effect.gen(function*() {
  const address = yield* serveHandler(echo.fetch)
  const { transport } = yield* GrpcClient.transport(address)
  return createClient(HTTP, transport)
})

const failure = <A>(promise: Promise<A>) =>
  Effect.promise(() => promise.then(() => undefined, (error: unknown) => ConnectError.from(error)))

/** A node's per-request server whose reader answers with `read` (the writer records). */
const nodeSide = (read: (length: number) => { read: Uint8Array; error?: { errorCode: ErrorCode; message: string } }) =>
  Effect.gen(function*() {
    const written: Array<string> = []
    const server = yield* GrpcServer.serve((router) => {
      router.service(Writer, {
        write: ({ payload }) => {
          written.push(new TextDecoder().decode(payload))
          return { written: payload.length }
        },
        writeHeader: ({ statusCode }) => {
          written.push(`status ${statusCode}`)
          return {}
        },
        flush: () => ({}),
        hijack: () => {
          throw new ConnectError("no", Code.Unimplemented)
        }
      })
      router.service(Reader, { read: ({ length }) => read(length) })
    })
    return { address: server.address, written }
  })

describe("the SDK's http.HTTP server under bad input", () => {
  it.live("a method or target no request can have is INVALID_ARGUMENT; the server goes on", () =>
    Effect.gen(function*() {
      const client = yield* served
      const badMethod = yield* failure(client.handleSimple({ method: "BAD METHOD", url: "/x" }))
      expect(badMethod?.code).toBe(Code.InvalidArgument)
      expect(badMethod?.rawMessage).toMatch(/cannot make an HTTP request of it/)
      const badTarget = yield* failure(client.handleSimple({ method: "GET", url: "http://[::1" }))
      expect(badTarget?.code).toBe(Code.InvalidArgument)
      const ok = yield* Effect.promise(() => client.handleSimple({ method: "POST", url: "/x", body: new TextEncoder().encode("still here") }))
      expect([ok.code, new TextDecoder().decode(ok.body)]).toEqual([200, "still here"])
    }).pipe(Effect.scoped))

  it.live("Handle without its parts, or with a response writer nobody serves, fails within the dial bound", () =>
    Effect.gen(function*() {
      const client = yield* served
      const missing = yield* failure(client.handle({}))
      expect(missing?.code).toBe(Code.InvalidArgument)
      const started = Date.now()
      const nowhere = yield* failure(client.handle({
        responseWriter: { serverAddr: "127.0.0.1:1" },
        request: { method: "POST", requestUri: "/x", contentLength: 3n }
      }))
      expect(nowhere?.code).toBe(Code.Unavailable)
      expect(Date.now() - started).toBeLessThan(10_000)
    }).pipe(Effect.scoped))

  it.live("a node's body reader that fails mid-body: the handler's read fails and the VM answers an error; one that sends nothing ends the body", () =>
    Effect.gen(function*() {
      const client = yield* served
      let calls = 0
      const failing = yield* nodeSide(() =>
        calls++ === 0 ?
          { read: new TextEncoder().encode("part") } :
          { read: new Uint8Array(0), error: { errorCode: ErrorCode.UNSPECIFIED, message: "disk on fire" } }
      )
      const broken = yield* failure(client.handle({
        responseWriter: { serverAddr: failing.address },
        request: { method: "POST", requestUri: "/x", contentLength: 100n }
      }))
      // The echo handler's request.text() fails: a 500 saying why is written to the node.
      expect(broken).toBeUndefined()
      expect(failing.written[0]).toBe("status 500")
      expect(failing.written.join("")).toMatch(/disk on fire/)
      // A reader that claims a body (content length 1 GiB) and sends EOF at once: an empty body.
      const empty = yield* nodeSide(() => ({ read: new Uint8Array(0), error: { errorCode: ErrorCode.EOF, message: "EOF" } }))
      const answered = yield* Effect.promise(() => client.handle({
        responseWriter: { serverAddr: empty.address },
        request: { method: "POST", requestUri: "/x", contentLength: 1n << 30n }
      }))
      expect(answered.header).toBeDefined()
      expect(empty.written).toEqual(["status 200"])
    }).pipe(Effect.scoped))
})
