/**
 * Bad and hostile input to the runtime: garbage on the handshake port, oversized requests,
 * arbitrary Initialize values, and plugins that freeze or leave their pipes to others.
 * Each gets a typed outcome within a bound, and the host survives.
 */
import { create, toBinary } from "@bufbuild/protobuf"
import { ConnectError, createClient } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { InitializeRequestSchema, Runtime as RuntimeService } from "@vmre/proto/vm/runtime/runtime_pb"
import { GrpcClient } from "@vmre/transport"
import { Duration, Effect, Exit, Layer, Logger } from "effect"
import fc from "fast-check"
import * as http2 from "node:http2"
import { connect } from "node:net"
import { Handshake, makeInitializer, validateVmAddress } from "../src/Handshake.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import { captureLogs, fixture, isAlive, waitUntil } from "./support.ts"

const sendRaw = (address: string, bytes: Uint8Array) =>
  Effect.callback<void>((resume) => {
    const [host, port] = address.split(":")
    const socket = connect(Number(port), host!, () => socket.end(bytes))
    socket.on("error", () => resume(Effect.void))
    socket.on("close", () => resume(Effect.void))
    socket.resume()
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("5 seconds"))

const initialize = (address: string, protocolVersion: number, addr: string) =>
  Effect.gen(function*() {
    const { transport } = yield* GrpcClient.transport(address)
    const client = createClient(RuntimeService, transport)
    return yield* Effect.tryPromise({
      try: () => client.initialize({ protocolVersion, addr }, { timeoutMs: 5_000 }),
      catch: (error) => ConnectError.from(error)
    })
  }).pipe(Effect.scoped)

describe("the runtime server under bad input", () => {
  it.live("garbage bytes, a bad HTTP/2 preface and random frames do not stop the handshake", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const pending = yield* handshake.listen({ protocolVersion: 45, path: "/p" })
      yield* sendRaw(pending.address, new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      yield* sendRaw(pending.address, Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))
      // A valid preface followed by a frame header that claims a 16 MiB frame.
      const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
      yield* sendRaw(pending.address, new Uint8Array([...preface, 0xff, 0xff, 0xff, 0x00, 0x00, 0, 0, 0, 1, 1, 2, 3]))
      yield* initialize(pending.address, 45, "127.0.0.1:4000")
      expect(yield* pending.initialized).toEqual({ protocolVersion: 45, vmAddr: "127.0.0.1:4000" })
    }).pipe(Effect.provide(Handshake.layer), Effect.scoped))

  it.live("an oversized Initialize (16 MiB address) is a typed InvalidVmAddress, not a crash", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const pending = yield* handshake.listen({ protocolVersion: 45, path: "/p" })
      const answer = yield* Effect.flip(initialize(pending.address, 45, "1".repeat(16 * 1024 * 1024)))
      expect(answer.rawMessage).toBe("handshake failed - the vm address must be a loopback host and port")
      const error = yield* Effect.flip(pending.initialized)
      expect(error._tag).toBe("InvalidVmAddress")
    }).pipe(Effect.provide(Handshake.layer), Effect.scoped))

  it.live("a request body that is not protobuf gets an error status, and the server keeps serving", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const pending = yield* handshake.listen({ protocolVersion: 45, path: "/p" })
      const status = yield* Effect.callback<string>((resume) => {
        const session = http2.connect(`http://${pending.address}`)
        session.on("error", () => {})
        const stream = session.request({
          ":method": "POST",
          ":path": "/vm.runtime.Runtime/Initialize",
          "content-type": "application/grpc",
          te: "trailers"
        })
        let grpcStatus = "none"
        stream.on("response", (headers) => (grpcStatus = String(headers["grpc-status"] ?? grpcStatus)))
        stream.on("trailers", (trailers) => (grpcStatus = String(trailers["grpc-status"])))
        stream.on("close", () => {
          session.close()
          resume(Effect.succeed(grpcStatus))
        })
        stream.on("error", () => {})
        stream.resume()
        // A 5-byte gRPC frame header announcing 3 bytes of invalid protobuf (a truncated varint).
        stream.end(Buffer.from([0, 0, 0, 0, 3, 0x08, 0xff, 0xff]))
      }).pipe(Effect.timeout("5 seconds"))
      expect(status).not.toBe("0")
      yield* initialize(pending.address, 45, "127.0.0.1:4001")
      expect((yield* pending.initialized).vmAddr).toBe("127.0.0.1:4001")
    }).pipe(Effect.provide(Handshake.layer), Effect.scoped))
})

describe("properties of the handshake", () => {
  it.live("any Initialize is accepted exactly when the version matches and the address is loopback", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.nat({ max: 0xffffffff }),
          fc.oneof(
            fc.string(),
            fc.constantFrom("127.0.0.1:", "localhost:", "[::1]:", "10.0.0.1:", "0.0.0.0:").chain((h) =>
              fc.integer({ min: -1, max: 70_000 }).map((p) => `${h}${p}`)
            )
          ),
          fc.boolean(),
          (version, addr, sameVersion) =>
            Effect.runPromise(Effect.gen(function*() {
              const protocolVersion = sameVersion ? 45 : version
              const initializer = yield* makeInitializer({ protocolVersion: 45, path: "/p" })
              const first = yield* Effect.exit(initializer.initialize({ protocolVersion, vmAddr: addr }))
              const accepted = protocolVersion === 45 && validateVmAddress(addr) === undefined
              expect(Exit.isSuccess(first)).toBe(accepted)
              // Whatever the first call was, every later call is refused.
              const second = yield* Effect.flip(initializer.initialize({ protocolVersion: 45, vmAddr: "127.0.0.1:1" }))
              expect(second._tag).toBe("HandshakeAlreadyDone")
              const outcome = yield* Effect.exit(initializer.initialized)
              expect(Exit.isSuccess(outcome)).toBe(accepted)
            }))
        ),
        { numRuns: 300 }
      )
    ))

  it.live("arbitrary bytes as an Initialize body never crash the server", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), (body) =>
            Effect.runPromise(
              Effect.gen(function*() {
                const pending = yield* handshake.listen({ protocolVersion: 45, path: "/p" })
                const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), Buffer.from(body)])
                frame.writeUInt32BE(body.length, 1)
                yield* sendRaw(pending.address, frame)
                // The server still answers a well-formed handshake afterwards.
                yield* initialize(pending.address, 45, "127.0.0.1:4002")
                expect((yield* pending.initialized).vmAddr).toBe("127.0.0.1:4002")
              }).pipe(Effect.scoped)
            )),
          { numRuns: 40 }
        )
      )
    }).pipe(Effect.provide(Handshake.layer)))

  it("a valid request encodes as documented (a sanity check of the generator)", () => {
    const bytes = toBinary(InitializeRequestSchema, create(InitializeRequestSchema, { protocolVersion: 45, addr: "a" }))
    expect(Array.from(bytes)).toEqual([0x08, 45, 0x12, 1, 0x61])
  })
})

describe("bounded stop", () => {
  const live = (logs = Logger.layer([])) => Layer.merge(VmRuntime.layer, logs)

  it.live("a frozen plugin (SIGSTOP) is stopped within grace + 1 s", () =>
    Effect.gen(function*() {
      const runtime = yield* VmRuntime
      const vm = yield* runtime.launch(fixture("normal", { stopTimeout: "500 millis" }))
      process.kill(vm.pid, "SIGSTOP")
      const [elapsed, exit] = yield* Effect.timed(vm.stop)
      expect(exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(Duration.toMillis(elapsed)).toBeLessThanOrEqual(1_500)
      expect(isAlive(vm.pid)).toBe(false)
    }).pipe(Effect.provide(live()), Effect.scoped))

  it.live("a grandchild outside the plugin's group holding its pipes does not hold up the stop", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const runtime = yield* VmRuntime
      const vm = yield* runtime.launch(fixture("escape-grandchild", { stopTimeout: "500 millis" }))
      yield* waitUntil(() => logs.lines.some((l) => l.message.startsWith("grandchild ")))
      const grandchild = Number(logs.lines.find((l) => l.message.startsWith("grandchild "))!.message.split(" ")[1])
      yield* Effect.addFinalizer(() => Effect.sync(() => process.kill(grandchild, "SIGKILL")))
      const [elapsed, exit] = yield* Effect.timed(vm.stop)
      expect(exit).toEqual({ code: 0, signal: null })
      expect(Duration.toMillis(elapsed)).toBeLessThanOrEqual(1_500)
      // A second stop returns the same outcome at once.
      expect(yield* vm.stop).toEqual(exit)
    }).pipe(Effect.provide(live(logs.layer)), Effect.scoped)
  })
})
