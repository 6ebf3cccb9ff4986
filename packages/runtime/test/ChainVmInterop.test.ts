/**
 * Our ChainVm client against a vm.VM server of an independent gRPC stack (@grpc/grpc-js, as
 * a Go VM would be), and the client's HTTP/2 keepalive on idle connections.
 */
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf"
import { EmptySchema } from "@bufbuild/protobuf/wkt"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as pb from "@vmre/proto/vm/vm_pb"
import { DateTime, Effect } from "effect"
import * as http2 from "node:http2"
import * as net from "node:net"
import { ChainVm, type KeepaliveOptions } from "../src/index.ts"
import { bytes, id, makeTestVm, VM_TIMESTAMP, VM_TIMESTAMP_MILLIS } from "./ChainVmSupport.ts"
import { waitUntil } from "./support.ts"

const unary = <I extends DescMessage, O extends DescMessage>(name: string, input: I, output: O) => ({
  path: `/vm.VM/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
  requestDeserialize: (b: Buffer) => fromBinary(input, b),
  responseSerialize: (m: MessageShape<O>) => Buffer.from(toBinary(output, m)),
  responseDeserialize: (b: Buffer) => fromBinary(output, b)
})

const vmService = {
  version: unary("Version", EmptySchema, pb.VersionResponseSchema),
  buildBlock: unary("BuildBlock", pb.BuildBlockRequestSchema, pb.BuildBlockResponseSchema),
  getBlock: unary("GetBlock", pb.GetBlockRequestSchema, pb.GetBlockResponseSchema),
  health: unary("Health", EmptySchema, pb.HealthResponseSchema),
  blockVerify: unary("BlockVerify", pb.BlockVerifyRequestSchema, pb.BlockVerifyResponseSchema)
} satisfies grpc.ServiceDefinition

type Unary<I, O> = (call: grpc.ServerUnaryCall<I, O>, callback: grpc.sendUnaryData<O>) => void

/** A grpc-js vm.VM server with the Go nodes' server options; answers fixed values and records requests. */
const grpcJsVm = Effect.acquireRelease(
  Effect.callback<{ server: grpc.Server; port: number; received: Array<unknown>; deadlines: Array<unknown> }>(
    (resume) => {
      const received: Array<unknown> = []
      const deadlines: Array<unknown> = []
      const server = new grpc.Server({
        "grpc.max_receive_message_length": -1,
        "grpc.max_send_message_length": -1,
        "grpc.keepalive_permit_without_calls": 1
      })
      const version: Unary<unknown, pb.VersionResponse> = (call, callback) => {
        deadlines.push(call.getDeadline())
        callback(null, create(pb.VersionResponseSchema, { version: "grpc-js-vm/0.0.1" }))
      }
      const buildBlock: Unary<pb.BuildBlockRequest, pb.BuildBlockResponse> = (call, callback) => {
        received.push(call.request)
        callback(
          null,
          create(pb.BuildBlockResponseSchema, {
            id: id(7),
            parentId: id(6),
            bytes: bytes(7),
            height: 7n,
            timestamp: VM_TIMESTAMP,
            verifyWithContext: true
          })
        )
      }
      const getBlock: Unary<pb.GetBlockRequest, pb.GetBlockResponse> = (call, callback) => {
        received.push(call.request)
        callback(null, create(pb.GetBlockResponseSchema, { err: pb.Error.NOT_FOUND }))
      }
      const health: Unary<unknown, pb.HealthResponse> = (_call, callback) =>
        callback(null, create(pb.HealthResponseSchema, { details: new TextEncoder().encode("{\"database\":\"ok\"}") }))
      const blockVerify: Unary<pb.BlockVerifyRequest, pb.BlockVerifyResponse> = (_call, callback) =>
        callback({ code: grpc.status.UNKNOWN, details: "invalid block: parent 0xab: not found (height 12)" })
      server.addService(vmService, { version, buildBlock, getBlock, health, blockVerify })
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
        resume(error === null ? Effect.succeed({ server, port, received, deadlines }) : Effect.die(error))
      })
    }
  ),
  ({ server }) => Effect.sync(() => server.forceShutdown())
)

/** A TCP relay to `port` that counts the connections made through it. */
const countingRelay = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ relay: net.Server; port: number; connections: { count: number }; sockets: Set<net.Socket> }>(
      (resume) => {
        const connections = { count: 0 }
        const sockets = new Set<net.Socket>()
        const relay = net.createServer((inbound) => {
          connections.count++
          const outbound = net.connect(port, "127.0.0.1")
          for (const s of [inbound, outbound]) {
            sockets.add(s)
            s.on("error", () => {})
            s.on("close", () => sockets.delete(s))
          }
          inbound.pipe(outbound).pipe(inbound)
        })
        relay.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({ relay, port: (relay.address() as net.AddressInfo).port, connections, sockets })))
      }
    ),
    ({ relay, sockets }) =>
      Effect.sync(() => {
        for (const s of sockets) s.destroy()
        relay.close()
      })
  )

describe("ChainVm client against a @grpc/grpc-js vm.VM server", () => {
  it.live("Version, BuildBlock (p_chain_height), GetBlock (NotFound), Health, an error status", () =>
    Effect.gen(function*() {
      const vm = yield* grpcJsVm
      const client = yield* ChainVm.make({ address: `127.0.0.1:${vm.port}` })

      expect(yield* client.version()).toBe("grpc-js-vm/0.0.1")
      // The deadline of the call travels as grpc-timeout (default call timeout: 30 s).
      const deadline = vm.deadlines[0]
      const remaining = (deadline instanceof Date ? deadline.getTime() : Number(deadline)) - Date.now()
      expect(remaining).toBeGreaterThan(20_000)
      expect(remaining).toBeLessThanOrEqual(30_000)

      const block = yield* client.buildBlock({ pChainHeight: 7n })
      expect((vm.received[0] as pb.BuildBlockRequest).pChainHeight).toBe(7n)
      expect(block).toMatchObject({ id: id(7), parentId: id(6), bytes: bytes(7), height: 7n, verifyWithContext: true })
      expect(DateTime.toEpochMillis(block.timestamp)).toBe(VM_TIMESTAMP_MILLIS)

      const notFound = yield* Effect.flip(client.getBlock(id(3)))
      // grpc-js hands fromBinary a Buffer: its bytes fields are Buffer views.
      expect(new Uint8Array((vm.received[1] as pb.GetBlockRequest).id)).toEqual(id(3))
      expect(notFound._tag).toBe("NotFound")

      expect(yield* client.health()).toEqual({ database: "ok" })

      const failed = yield* Effect.flip(client.blockVerify(bytes(1)))
      expect(failed).toMatchObject({
        _tag: "VmCallFailed",
        code: "Unknown",
        reason: "invalid block: parent 0xab: not found (height 12)"
      })
    }).pipe(Effect.scoped))

  it.live("an RPC the grpc-js server does not have is VmCallFailed(Unimplemented)", () =>
    Effect.gen(function*() {
      const vm = yield* grpcJsVm
      const client = yield* ChainVm.make({ address: `127.0.0.1:${vm.port}` })
      expect(yield* Effect.flip(client.shutdown())).toMatchObject({ _tag: "VmCallFailed", code: "Unimplemented" })
    }).pipe(Effect.scoped))
})

describe("ChainVm client keepalive", () => {
  // Short intervals so that pings happen during the test; the defaults are upstream's 30 s / 10 s.
  const keepalive: KeepaliveOptions = { interval: "300 millis", timeout: "2 seconds", idle: true }

  it.live("pings an idle connection without breaking it (node:http2 server)", () =>
    Effect.gen(function*() {
      const stats = { sessions: 0, pings: 0 }
      const server = yield* Effect.acquireRelease(
        Effect.callback<http2.Http2Server>((resume) => {
          const server = http2.createServer(connectNodeAdapter({
            routes: (router) => router.service(pb.VM, makeTestVm().impl)
          }))
          server.on("session", (session) => {
            stats.sessions++
            session.on("ping", () => stats.pings++)
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const port = (server.address() as net.AddressInfo).port
      const client = yield* ChainVm.make({ address: `127.0.0.1:${port}`, keepalive })
      expect(yield* client.version()).toBe("testvm/1.2.3")
      // Idle, with pings going back and forth.
      expect(yield* waitUntil(() => stats.pings >= 3, 10_000)).toBe(true)
      expect(yield* client.version()).toBe("testvm/1.2.3")
      expect(yield* client.buildBlock()).toMatchObject({ height: 7n })
      // Still the first connection: no ping timed out and no session was replaced.
      expect(stats.sessions).toBe(1)
    }).pipe(Effect.scoped))

  it.live("pings an idle connection to a grpc-js server without breaking it", () =>
    Effect.gen(function*() {
      const vm = yield* grpcJsVm
      const relay = yield* countingRelay(vm.port)
      const client = yield* ChainVm.make({ address: `127.0.0.1:${relay.port}`, keepalive })
      expect(yield* client.version()).toBe("grpc-js-vm/0.0.1")
      yield* Effect.sleep("1500 millis")
      expect(yield* client.version()).toBe("grpc-js-vm/0.0.1")
      expect(yield* client.health()).toEqual({ database: "ok" })
      expect(relay.connections.count).toBe(1)
    }).pipe(Effect.scoped))
})
