import { describe, expect, it } from "@effect/vitest"
import { VM } from "@vmre/proto/vm/vm_pb"
import { Duration, Effect, Exit, Scope } from "effect"
import * as http2 from "node:http2"
import { connect } from "node:net"
import { GrpcServer, Health, HttpListener } from "../src/index.ts"

interface RawAnswer {
  readonly headers: http2.IncomingHttpHeaders
  readonly trailers: http2.IncomingHttpHeaders
  readonly body: Buffer
}

/** One gRPC call over a bare HTTP/2 client: what the server really sends (bounded). */
const rawCall = (address: string, path: string, headers: http2.OutgoingHttpHeaders = {}) =>
  Effect.callback<RawAnswer, Error>((resume) => {
    const session = http2.connect(`http://${address}`)
    session.on("error", (error) => resume(Effect.fail(error)))
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers
    })
    let answerHeaders: http2.IncomingHttpHeaders = {}
    let trailers: http2.IncomingHttpHeaders = {}
    const chunks: Array<Buffer> = []
    stream.on("response", (h) => (answerHeaders = h))
    stream.on("trailers", (t) => (trailers = t))
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.on("end", () => {
      session.close()
      resume(Effect.succeed({ headers: answerHeaders, trailers, body: Buffer.concat(chunks) }))
    })
    stream.on("error", (error) => resume(Effect.fail(error)))
    // An empty message: not compressed, length 0.
    stream.end(Buffer.alloc(5))
    const bound = setTimeout(() => resume(Effect.fail(new Error(`no answer to ${path} within 5 s`))), 5_000)
    return Effect.sync(() => {
      clearTimeout(bound)
      session.destroy()
    })
  })

/** A vm.VM whose Version answer is 4 KiB, to see whether answers get compressed. */
const bigVersion = (router: Parameters<Parameters<typeof GrpcServer.serve>[0]>[0]) =>
  router.service(VM, { version: () => ({ version: "v".repeat(4096) }) })

/** Opens a TCP connection and resolves with how long the server kept it open (bounded). */
const holdSilent = (address: string, boundMillis: number) =>
  Effect.callback<number>((resume) => {
    const [host, port] = address.split(":")
    const startedAt = Date.now()
    const socket = connect(Number(port), host!)
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(Date.now() - startedAt)))
    socket.resume()
    const bound = setTimeout(() => socket.destroy(), boundMillis)
    return Effect.sync(() => {
      clearTimeout(bound)
      socket.destroy()
    })
  })

describe("GrpcServer", () => {
  it.live("closes a connection that never sends the HTTP/2 preface", () =>
    Effect.gen(function*() {
      const server = yield* GrpcServer.serve((router) => Health.register(router), { prefaceTimeout: "200 millis" })
      const heldFor = yield* holdSilent(server.address, 5_000)
      expect(heldFor).toBeGreaterThanOrEqual(150)
      expect(heldFor).toBeLessThan(5_000)
    }).pipe(Effect.scoped))

  it.live("answers an unknown service or method the gRPC way: HTTP 200, trailers-only, UNIMPLEMENTED", () =>
    Effect.gen(function*() {
      const server = yield* GrpcServer.serve(bigVersion)
      const method = yield* rawCall(server.address, "/vm.VM/NoSuchMethod")
      expect(method.headers).toMatchObject({
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "12",
        "grpc-message": "unknown method NoSuchMethod for service vm.VM"
      })
      expect(method.body.length).toBe(0)
      const service = yield* rawCall(server.address, "/vm.Nope/Version")
      expect(service.headers).toMatchObject({ ":status": 200, "grpc-status": "12", "grpc-message": "unknown service vm.Nope" })
      // The served method still answers.
      const known = yield* rawCall(server.address, "/vm.VM/Version")
      expect(known.trailers["grpc-status"]).toBe("0")
    }).pipe(Effect.scoped))

  it.live("never compresses unless configured, even for a client that accepts gzip", () =>
    Effect.gen(function*() {
      const accepting = { "grpc-accept-encoding": "gzip" }
      const plain = yield* GrpcServer.serve(bigVersion)
      const answer = yield* rawCall(plain.address, "/vm.VM/Version", accepting)
      expect(answer.headers["grpc-encoding"] ?? "identity").toBe("identity")
      expect(answer.body[0]).toBe(0) // the compressed flag of the message
      expect(answer.body.readUInt32BE(1)).toBeGreaterThan(4096)

      const gzip = yield* GrpcServer.serve(bigVersion, { compression: "gzip" })
      const compressed = yield* rawCall(gzip.address, "/vm.VM/Version", accepting)
      expect(compressed.headers["grpc-encoding"]).toBe("gzip")
      expect(compressed.body[0]).toBe(1)
      expect(compressed.body.readUInt32BE(1)).toBeLessThan(1024)
    }).pipe(Effect.scoped))

  it.live("fails with a typed error naming the address when the port is taken, and serves on a host name too", () =>
    Effect.gen(function*() {
      const first = yield* GrpcServer.serve((router) => Health.register(router))
      const taken = yield* GrpcServer.serve((router) => Health.register(router), { port: first.port }).pipe(Effect.flip)
      expect(taken._tag).toBe("ServerListenError")
      expect(taken.message).toContain(`127.0.0.1:${first.port}`)
      expect(taken.reason).toContain("EADDRINUSE")
      // The first server still answers.
      const answer = yield* rawCall(first.address, "/grpc.health.v1.Health/Check")
      expect(answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]).toBe("0")

      const httpTaken = yield* HttpListener.listen((_, res) => res.end(), { host: "127.0.0.1", port: first.port }).pipe(Effect.flip)
      expect(httpTaken).toContain("EADDRINUSE")

      // A name is looked up as before (no direct bind for it).
      const named = yield* GrpcServer.serve((router) => Health.register(router), { host: "localhost" })
      expect(named.address).toBe(`localhost:${named.port}`)
      const named_ = yield* rawCall(named.address, "/grpc.health.v1.Health/Check")
      expect(named_.trailers["grpc-status"] ?? named_.headers["grpc-status"]).toBe("0")
    }).pipe(Effect.scoped))

  it("percent-encodes grpc-message as the gRPC spec says", () => {
    expect(GrpcServer.encodeGrpcMessage("plain text: ok")).toBe("plain text: ok")
    expect(GrpcServer.encodeGrpcMessage("100% é\n")).toBe("100%25 %C3%A9%0A")
  })

  it.live("closes at once past a local peer that connected and never spoke, and past an idle session after the grace", () =>
    Effect.gen(function*() {
      const silent = yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const server = yield* GrpcServer.serve((router) => Health.register(router)).pipe(Scope.provide(scope))
        const [host, port] = server.address.split(":")
        const socket = connect(Number(port), host!)
        socket.on("error", () => {})
        yield* Effect.sleep("100 millis")
        const [took] = yield* Effect.timed(Scope.close(scope, Exit.void))
        socket.destroy()
        return Duration.toMillis(took)
      })
      // Before: closing waited for the silent peer, for as long as it stayed (minutes).
      expect(silent).toBeLessThan(500)

      const idle = yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const server = yield* GrpcServer.serve((router) => Health.register(router), { closeGrace: "300 millis" }).pipe(
          Scope.provide(scope)
        )
        // A peer that sends the HTTP/2 preface and SETTINGS, then ignores everything (GOAWAY too).
        const [host, port] = server.address.split(":")
        const socket = connect(Number(port), host!)
        socket.on("error", () => {})
        socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]))
        yield* Effect.sleep("100 millis")
        const [took] = yield* Effect.timed(Scope.close(scope, Exit.void))
        socket.destroy()
        return Duration.toMillis(took)
      })
      expect(idle).toBeGreaterThanOrEqual(250)
      expect(idle).toBeLessThan(1_500)
    }))
})
