/**
 * vmre's gRPC engine on bare node:http2 (H2Transport) as a Connect transport, against a Connect
 * server: the deadline sent as grpc-timeout and enforced, cancellation reaching the server as a
 * reset stream, errors from trailers-only responses with their details, the maximum received
 * message size, a server that goes away and comes back. (It is the default engine: the ChainVm
 * client's suites run over it against grpc-go, grpc-js and Connect servers; the connect-engine
 * test project runs them again over Connect's transport.)
 */
import { create } from "@bufbuild/protobuf"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import * as pb from "@vmre/proto/vm/vm_pb"
import { Deferred, Effect, Exit, Scope } from "effect"
import * as GrpcServer from "../src/GrpcServer.ts"
import * as H2Transport from "../src/H2Transport.ts"

const failure = (promise: Promise<unknown>) => Effect.promise(() => promise.then(() => undefined, (e: unknown) => ConnectError.from(e)))

/** A vm.VM server: Version answers, BuildBlock waits for cancellation, GetBlock fails with a detail, GetAncestors sends maxBlocksSize bytes. */
const server = (port?: number) =>
  Effect.gen(function*() {
    const cancelled = yield* Deferred.make<void>()
    const timeouts: Array<string | null> = []
    const metadata: Array<string | null> = []
    const served = yield* GrpcServer.serve((router) =>
      router.service(pb.VM, {
        version: (_, context) => {
          timeouts.push(context.requestHeader.get("grpc-timeout"))
          metadata.push(context.requestHeader.get("x-vmre-test"))
          return { version: "h2-test/1" }
        },
        buildBlock: (_, context) =>
          new Promise((_, reject) =>
            context.signal.addEventListener("abort", () => {
              Effect.runSync(Deferred.succeed(cancelled, undefined))
              reject(new ConnectError("cancelled", Code.Canceled))
            })),
        getBlock: () => {
          throw new ConnectError("no such block", Code.NotFound, undefined, [
            { desc: pb.VersionResponseSchema, value: create(pb.VersionResponseSchema, { version: "detail" }) }
          ])
        },
        // Echoes the request's bytes back (a block id's worth of them as the size to send).
        getAncestors: ({ blkId, maxBlocksSize }) => ({ blksBytes: [new Uint8Array(maxBlocksSize).fill(blkId[0] ?? 0)] })
      }), port === undefined ? {} : { port })
    return { ...served, cancelled: Deferred.await(cancelled), timeouts, metadata }
  })

describe("H2Transport", () => {
  it.live("unary calls with the deadline sent and enforced, cancellation as a reset the server sees, errors with details", () =>
    Effect.gen(function*() {
      const vm = yield* server()
      const engine = H2Transport.make(vm.address)
      yield* Effect.addFinalizer(() => Effect.sync(engine.close))
      const client = createClient(pb.VM, engine.transport)

      expect((yield* Effect.promise(() => client.version({}, { timeoutMs: 5_000 }))).version).toBe("h2-test/1")
      expect(vm.timeouts[0]).toMatch(/^\d+m$/)
      expect(Number(vm.timeouts[0]!.slice(0, -1))).toBeLessThanOrEqual(5_000)
      // Metadata in each form a Connect caller may give it (a record, Web Headers, pairs) reaches the server.
      for (const headers of [{ "X-Vmre-Test": "record" }, new Headers({ "x-vmre-test": "headers" }), [["x-vmre-test", "pairs"]] as Array<[string, string]>]) {
        yield* Effect.promise(() => client.version({}, { headers }))
      }
      expect(vm.metadata.slice(1)).toEqual(["record", "headers", "pairs"])

      // A deadline the server does not enforce: enforced here, DeadlineExceeded.
      const timedOut = yield* failure(client.buildBlock({}, { timeoutMs: 200 }))
      expect(timedOut?.code).toBe(Code.DeadlineExceeded)
      yield* vm.cancelled.pipe(Effect.timeout("5 seconds"))

      // Cancelled by the caller: Canceled, and the server's handler sees it.
      const vm2 = yield* server()
      const engine2 = H2Transport.make(vm2.address)
      yield* Effect.addFinalizer(() => Effect.sync(engine2.close))
      const controller = new AbortController()
      const pending = failure(createClient(pb.VM, engine2.transport).buildBlock({}, { signal: controller.signal }))
      setTimeout(() => controller.abort(), 100)
      expect((yield* pending)?.code).toBe(Code.Canceled)
      yield* vm2.cancelled.pipe(Effect.timeout("5 seconds"))

      // A trailers-only error with its message and details.
      const notFound = yield* failure(client.getBlock({ id: new Uint8Array(32) }))
      expect(notFound).toMatchObject({ code: Code.NotFound, rawMessage: "no such block" })
      expect(notFound!.findDetails(pb.VersionResponseSchema).map((d) => d.version)).toEqual(["detail"])

      // A 16 MiB answer, its bytes fields plain Uint8Arrays.
      const big = yield* Effect.promise(() => client.getAncestors({ blkId: new Uint8Array(32).fill(9), maxBlocksSize: 16 * 1024 * 1024 }))
      expect(big.blksBytes[0]!.length).toBe(16 * 1024 * 1024)
      expect(big.blksBytes[0]![12345]).toBe(9)
      expect(big.blksBytes[0]!.constructor).toBe(Uint8Array)
    }).pipe(Effect.scoped))

  it.live("a message over the receive limit is ResourceExhausted; the connection goes on", () =>
    Effect.gen(function*() {
      const vm = yield* server()
      const engine = H2Transport.make(vm.address, { readMaxBytes: 1024 })
      yield* Effect.addFinalizer(() => Effect.sync(engine.close))
      const client = createClient(pb.VM, engine.transport)
      const tooBig = yield* failure(client.getAncestors({ blkId: new Uint8Array(32), maxBlocksSize: 4096 }))
      expect(tooBig?.code).toBe(Code.ResourceExhausted)
      expect((yield* Effect.promise(() => client.version({}))).version).toBe("h2-test/1")
    }).pipe(Effect.scoped))

  it.live("a server that goes away: calls fail Unavailable at once; when it is back, the next call dials again", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const vm = yield* Scope.provide(scope)(server())
      const engine = H2Transport.make(vm.address)
      yield* Effect.addFinalizer(() => Effect.sync(engine.close))
      const client = createClient(pb.VM, engine.transport)
      expect(engine.state()).toBe("closed")
      expect((yield* Effect.promise(() => client.version({}))).version).toBe("h2-test/1")
      expect(engine.state()).toBe("open")
      yield* Scope.close(scope, Exit.void)
      const started = Date.now()
      const down = yield* failure(client.version({}, { timeoutMs: 10_000 }))
      expect(down?.code).toBe(Code.Unavailable)
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(yield* Effect.promise(() => engine.connect())).toBe("error")
      yield* server(vm.port)
      expect((yield* Effect.promise(() => client.version({}))).version).toBe("h2-test/1")
    }).pipe(Effect.scoped))

  it.live("32 callers waiting for a new connection share one wait: all see it open, and node warns of no listener leak", () =>
    Effect.gen(function*() {
      const vm = yield* server()
      const engine = H2Transport.make(vm.address)
      yield* Effect.addFinalizer(() => Effect.sync(engine.close))
      const warnings: Array<string> = []
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
      process.on("warning", onWarning)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("warning", onWarning)))
      const results = yield* Effect.promise(() => Promise.all(Array.from({ length: 32 }, () => engine.connect())))
      expect(results).toEqual(Array.from({ length: 32 }, () => "open"))
      // Node emits the warning on a later tick.
      yield* Effect.sleep("20 millis")
      expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([])
      expect((yield* Effect.promise(() => createClient(pb.VM, engine.transport).version({}))).version).toBe("h2-test/1")
    }).pipe(Effect.scoped))
})
