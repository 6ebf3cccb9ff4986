/**
 * A wire-level `vm.VM` for the ChainVm client tests: every handler records the request it
 * received (the decoded protobuf message) and answers fixed values, so a test can check
 * both directions of every mapping. `overrides` replaces single handlers.
 */
import { create } from "@bufbuild/protobuf"
import { TimestampSchema } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect"
import { CounterSchema, MetricFamilySchema, MetricType } from "@vmre/proto/io/prometheus/client/metrics_pb"
import * as pb from "@vmre/proto/vm/vm_pb"
import { GrpcServer } from "@vmre/transport"
import { DateTime, Effect, type Scope } from "effect"
import * as net from "node:net"
import { ChainVm, type ChainVmClient, type ClientOptions, Id, NodeId } from "../src/index.ts"

/** A 32-byte id filled with `n`. */
export const id = (n: number): Id => Id.make(new Uint8Array(32).fill(n))
/** A 20-byte node id filled with `n`. */
export const nodeId = (n: number): NodeId => NodeId.make(new Uint8Array(20).fill(n))
export const bytes = (...values: Array<number>) => new Uint8Array(values)

/** 2023-11-14T22:13:20.123456789Z: sub-millisecond nanos the client drops. */
export const VM_TIMESTAMP = create(TimestampSchema, { seconds: 1_700_000_000n, nanos: 123_456_789 })
export const VM_TIMESTAMP_MILLIS = 1_700_000_000_123

export type VmImpl = Partial<ServiceImpl<typeof pb.VM>>

/** A handler that never answers (until the call is aborted). */
export const never = (_request: unknown, context: HandlerContext): Promise<never> =>
  new Promise((_, reject) => {
    context.signal.addEventListener("abort", () => reject(context.signal.reason), { once: true })
  })

export const makeTestVm = (overrides: VmImpl = {}) => {
  const received: Array<{ readonly method: string; readonly request: unknown }> = []
  const record = (method: string, request: unknown) => {
    received.push({ method, request })
  }
  /** The request of the last call of `method`. */
  const last = <T>(method: string): T => {
    const found = received.findLast((r) => r.method === method)
    if (found === undefined) throw new Error(`no ${method} call received`)
    return found.request as T
  }
  const lastAccepted = (height: bigint) => ({
    lastAcceptedId: id(1),
    lastAcceptedParentId: id(0),
    height,
    bytes: bytes(1, 2, 3),
    timestamp: VM_TIMESTAMP
  })

  const impl: VmImpl = {
    initialize: (request) => (record("Initialize", request), lastAccepted(5n)),
    setState: (request) => (record("SetState", request), lastAccepted(6n)),
    shutdown: (request) => (record("Shutdown", request), {}),
    createHandlers: () => ({
      handlers: [{ prefix: "/rpc", serverAddr: "127.0.0.1:1234" }, { prefix: "/ws", serverAddr: "127.0.0.1:1235" }]
    }),
    newHTTPHandler: () => ({ serverAddr: "127.0.0.1:5678" }),
    waitForEvent: () => ({ message: pb.Message.BUILD_BLOCK }),
    connected: (request) => (record("Connected", request), {}),
    disconnected: (request) => (record("Disconnected", request), {}),
    buildBlock: (request) => (record("BuildBlock", request), {
      id: id(7),
      parentId: id(6),
      bytes: bytes(7, 7, 7),
      height: 7n,
      timestamp: VM_TIMESTAMP,
      verifyWithContext: true
    }),
    parseBlock: (request) => (record("ParseBlock", request), {
      id: id(8),
      parentId: id(7),
      status: pb.Status.ACCEPTED,
      height: 8n,
      timestamp: VM_TIMESTAMP,
      verifyWithContext: false
    }),
    getBlock: (request) => {
      record("GetBlock", request)
      if (request.id[0] !== 9) return { err: pb.Error.NOT_FOUND }
      return {
        parentId: id(8),
        bytes: bytes(9, 9),
        status: pb.Status.PROCESSING,
        height: 9n,
        timestamp: VM_TIMESTAMP,
        verifyWithContext: true
      }
    },
    setPreference: (request) => (record("SetPreference", request), {}),
    health: () => ({ details: new TextEncoder().encode(JSON.stringify({ healthy: true, checks: 3 })) }),
    version: () => ({ version: "testvm/1.2.3" }),
    appRequest: (request) => (record("AppRequest", request), {}),
    appRequestFailed: (request) => (record("AppRequestFailed", request), {}),
    appResponse: (request) => (record("AppResponse", request), {}),
    appGossip: (request) => (record("AppGossip", request), {}),
    crossChainAppRequest: (request) => (record("CrossChainAppRequest", request), {}),
    crossChainAppRequestFailed: (request) => (record("CrossChainAppRequestFailed", request), {}),
    crossChainAppResponse: (request) => (record("CrossChainAppResponse", request), {}),
    gather: () => ({
      metricFamilies: [
        create(MetricFamilySchema, {
          name: "blocks_built",
          help: "Blocks built",
          type: MetricType.COUNTER,
          metric: [{ label: [{ name: "chain", value: "x" }], counter: create(CounterSchema, { value: 3 }) }]
        }),
        create(MetricFamilySchema, {
          name: "latency_seconds",
          help: "Latency",
          type: MetricType.HISTOGRAM,
          metric: [{
            timestampMs: 1_700_000_000_000n,
            histogram: {
              sampleCount: 4n,
              sampleSum: 1.5,
              bucket: [{ upperBound: 0.5, cumulativeCount: 3n }, { upperBound: Infinity, cumulativeCount: 4n }]
            }
          }]
        })
      ]
    }),
    getAncestors: (request) => (record("GetAncestors", request), { blksBytes: [bytes(1), bytes(2, 2)] }),
    batchedParseBlock: (request) => (record("BatchedParseBlock", request), {
      response: request.request.map((b) => ({
        id: id(b[0] ?? 0),
        parentId: id((b[0] ?? 1) - 1),
        height: BigInt(b[0] ?? 0),
        timestamp: VM_TIMESTAMP
      }))
    }),
    getBlockIDAtHeight: (request) => (record("GetBlockIDAtHeight", request),
      request.height === 10n ? { blkId: id(10) } : { err: pb.Error.NOT_FOUND }),
    stateSyncEnabled: () => ({ enabled: true }),
    getOngoingSyncStateSummary: () => ({ id: id(11), height: 11n, bytes: bytes(11) }),
    getLastStateSummary: () => ({ err: pb.Error.CLOSED }),
    parseStateSummary: (request) => (record("ParseStateSummary", request), { id: id(12), height: 12n }),
    getStateSummary: (request) => (record("GetStateSummary", request),
      request.height === 13n ? { id: id(13), bytes: bytes(13) } : { err: pb.Error.STATE_SYNC_NOT_IMPLEMENTED }),
    blockVerify: (request) => (record("BlockVerify", request), { timestamp: VM_TIMESTAMP }),
    blockAccept: (request) => (record("BlockAccept", request), {}),
    blockReject: (request) => (record("BlockReject", request), {}),
    stateSummaryAccept: (request) => (record("StateSummaryAccept", request),
      { mode: pb.StateSummaryAcceptResponse_Mode.DYNAMIC }),
    ...overrides
  }
  return { impl, received, last }
}

/** A handler that fails the way a Go VM reports an error that is not in the `err` enum. */
export const vmError = (text: string) => () => {
  throw new ConnectError(text, Code.Unknown)
}

/** A client of a vm.VM implementation served over loopback gRPC, for the body's scope. */
export const withVm = <A, E>(
  impl: VmImpl,
  body: (vm: ChainVmClient) => Effect.Effect<A, E, Scope.Scope>,
  options: ClientOptions = {}
) =>
  Effect.gen(function*() {
    const server = yield* GrpcServer.serve((router) => router.service(pb.VM, impl))
    const client = yield* ChainVm.make({ address: server.address, ...options })
    return yield* body(client)
  }).pipe(Effect.scoped)


export const at = (iso: string) => DateTime.makeUnsafe(iso)
export const millis = (dt: DateTime.DateTime) => DateTime.toEpochMillis(dt)

/** A loopback port with nothing listening on it. */
export const freePort = () =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const server = net.createServer()
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as net.AddressInfo
        server.close(() => resolve(address.port))
      })
    })
  )
