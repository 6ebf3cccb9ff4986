/**
 * The hostile-input tests' stub VM, its server, and raw HTTP/2 and gRPC tools that send what
 * a well-behaved client never would.
 */
import { type Client, ConnectError, createClient } from "@connectrpc/connect"
import { expect } from "@effect/vitest"
import { VM } from "@vmre/proto/vm/vm_pb"
import { MemoryDatabase } from "@vmre/rpcdb"
import { GrpcClient } from "@vmre/transport"
import { type Duration, Effect, Metric, Schema, type Scope } from "effect"
import * as http2 from "node:http2"
import { connect } from "node:net"
import { type Block, Id, VmDefinition, VmPlugin } from "../src/index.ts"

// ---------------------------------------------------------------------------------------
// A stub VM: a genesis block, and blocks whose bytes start with 0x42 ("B")
// ---------------------------------------------------------------------------------------

/** The stub's refusal of bytes that are not one of its blocks: a typed error of the VM. */
export class NotAStubBlock extends Schema.TaggedError<NotAStubBlock>()("NotAStubBlock", {
  length: Schema.Number,
  first: Schema.String
}) {
  override get message() {
    return `not a stub block: ${this.length} bytes starting with ${this.first}`
  }
}

export const BLOCK_MAGIC = 0x42
export const genesisBytes = new TextEncoder().encode("stub genesis")

export interface Seen {
  /** Lengths of the ids and node ids the VM was handed, by method. */
  readonly ids: Array<{ readonly method: string; readonly length: number }>
}

export const stubVm = (seen: Seen): VmDefinition.VmDefinition => {
  const block = (bytes: Uint8Array, parentId: Uint8Array, height: bigint): Block.Block => ({
    id: Id.sha256(bytes),
    parentId,
    height,
    timestamp: new Date(Date.UTC(2025, 0, 1) + Number(height) * 1000),
    bytes,
    verify: Effect.void,
    accept: Effect.void,
    reject: Effect.void
  })
  const genesis = block(genesisBytes, Id.empty, 0n)
  const saw = (method: string, id: Uint8Array) => Effect.sync(() => seen.ids.push({ method, length: id.length }))
  return {
    initialize: () => Effect.succeed(genesis),
    setState: () => Effect.void,
    buildBlock: () => Effect.succeed(block(new Uint8Array([BLOCK_MAGIC, 1]), genesis.id, 1n)),
    parseBlock: (bytes) =>
      bytes[0] === BLOCK_MAGIC ?
        Effect.succeed(block(bytes, genesis.id, 1n)) :
        Effect.fail(
          new NotAStubBlock({
            length: bytes.length,
            first: bytes.length === 0 ? "nothing" : `0x${bytes[0]!.toString(16).padStart(2, "0")}`
          })
        ),
    getBlock: (id) =>
      Effect.andThen(
        saw("GetBlock", id),
        Id.equals(id, genesis.id) ? Effect.succeed(genesis) : Effect.fail(new VmDefinition.NotFound({ subject: "block" }))
      ),
    setPreference: (id) => saw("SetPreference", id),
    lastAccepted: Effect.succeed(genesis.id),
    getBlockIdAtHeight: (height) =>
      height === 0n ? Effect.succeed(genesis.id) : Effect.fail(new VmDefinition.NotFound({ subject: `height ${height}` })),
    health: Effect.succeed({ healthy: true }),
    version: "stub/1.0.0",
    shutdown: Effect.void,
    connected: (nodeId) => saw("Connected", nodeId),
    disconnected: (nodeId) => saw("Disconnected", nodeId),
    appRequest: (request) => saw("AppRequest", request.nodeId),
    appResponse: (response) => saw("AppResponse", response.nodeId),
    appRequestFailed: (failure) => saw("AppRequestFailed", failure.nodeId),
    appGossip: (gossip) => saw("AppGossip", gossip.nodeId),
    crossChainAppRequest: (request) => saw("CrossChainAppRequest", request.chainId),
    crossChainAppResponse: (response) => saw("CrossChainAppResponse", response.chainId),
    crossChainAppRequestFailed: (failure) => saw("CrossChainAppRequestFailed", failure.chainId)
  }
}

/** The texts of UNKNOWN answers that come from the stub itself (anything else is a defect). */
export const STUB_ERRORS = /^(not a stub block: \d+ bytes starting with (nothing|0x[0-9a-f]{2})|not found: block)$/

export interface Served {
  readonly address: string
  readonly vm: Client<typeof VM>
  readonly seen: Seen
}

/** The stub on an in-process VM server, with a Connect client; optionally initialized. */
export const serve = (options: { readonly initialize?: boolean } = {}): Effect.Effect<Served, never, Scope.Scope> =>
  Effect.gen(function*() {
    const seen: Seen = { ids: [] }
    const { address } = yield* VmPlugin.serveLocal(stubVm(seen), { connectDatabase: () => MemoryDatabase.make })
      .pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
    const { transport } = yield* GrpcClient.transport(address)
    const vm = createClient(VM, transport)
    if (options.initialize === true) yield* call(() => vm.initialize({ dbServerAddr: "in-memory", genesisBytes }))
    return { address, vm, seen }
  }).pipe(Effect.orDie)

// Every wait is bounded: a hung answer fails the test at once.
export const call = <A>(f: () => Promise<A>, bound: Duration.Input = "10 seconds") =>
  Effect.promise(f).pipe(Effect.timeout(bound), Effect.orDie)
export const fails = (f: () => Promise<unknown>, bound: Duration.Input = "10 seconds") =>
  Effect.promise(() =>
    f().then(
      () => {
        throw new Error("expected an error status, got an answer")
      },
      (error: unknown) => ConnectError.from(error)
    )
  ).pipe(Effect.timeout(bound), Effect.orDie)

/** The server still answers a valid call, quickly. */
export const stillServes = (served: Served) =>
  Effect.gen(function*() {
    const answer = yield* call(() => served.vm.version({}), "2 seconds")
    expect(answer.version).toBe("stub/1.0.0")
  })

// ---------------------------------------------------------------------------------------
// Raw bytes and raw HTTP/2
// ---------------------------------------------------------------------------------------

export interface Exchange {
  /** Everything the server sent before it closed the connection. */
  readonly received: Buffer
  readonly closedAfterMillis: number
}

/** Writes `bytes` on a fresh TCP connection; waits (at most `boundMillis`) for the server to close it. */
export const exchange = (address: string, bytes: Uint8Array, boundMillis = 2_000) =>
  Effect.callback<Exchange, Error>((resume) => {
    const [host, port] = address.split(":")
    const started = Date.now()
    const chunks: Array<Buffer> = []
    const socket = connect(Number(port), host!, () => socket.write(bytes))
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => {})
    socket.on("close", () =>
      resume(Effect.succeed({ received: Buffer.concat(chunks), closedAfterMillis: Date.now() - started })))
    const timer = setTimeout(() => {
      resume(Effect.fail(new Error(`the server did not close the connection within ${boundMillis} ms`)))
      socket.destroy()
    }, boundMillis)
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

export interface Frame {
  readonly type: number
  readonly stream: number
  readonly payload: Buffer
}

export const frames = (bytes: Buffer): Array<Frame> => {
  const found: Array<Frame> = []
  for (let at = 0; at + 9 <= bytes.length;) {
    const length = bytes.readUIntBE(at, 3)
    found.push({
      type: bytes[at + 3]!,
      stream: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length)
    })
    at += 9 + length
  }
  return found
}

export const GOAWAY = 7
/** The error code of the server's GOAWAY, and its debug text. */
export const goAway = (bytes: Buffer) => {
  const frame = frames(bytes).find((f) => f.type === GOAWAY)
  return frame === undefined ? undefined : {
    errorCode: frame.payload.readUInt32BE(4),
    debug: frame.payload.subarray(8).toString("latin1")
  }
}

export const utf8 = (text: string) => new TextEncoder().encode(text)
export const PREFACE = utf8("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
/** An empty SETTINGS frame. */
export const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0])

/** A gRPC length-prefixed message; `claimed` overrides the length in its prefix. */
export const envelope = (body: Uint8Array, claimed = body.length, flags = 0): Buffer => {
  const frame = Buffer.alloc(5 + body.length)
  frame[0] = flags
  frame.writeUInt32BE(claimed >>> 0, 1)
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(frame, 5)
  return frame
}

export interface RawAnswer {
  readonly httpStatus: number | undefined
  /** `grpc-status` from the trailers, or from the headers of a trailers-only answer. */
  readonly grpcStatus: number | undefined
  readonly grpcMessage: string | undefined
  readonly millis: number
}

/** POSTs `body` (sent as is) to `/vm.VM/<method>` on a fresh HTTP/2 session; bounded. */
export const rawCall = (address: string, method: string, body: Uint8Array, boundMillis = 5_000) =>
  Effect.callback<RawAnswer, Error>((resume) => {
    const started = Date.now()
    const session = http2.connect(`http://${address}`)
    session.on("error", () => {})
    const stream = session.request({
      ":method": "POST",
      ":path": `/vm.VM/${method}`,
      "content-type": "application/grpc",
      te: "trailers"
    })
    let httpStatus: number | undefined
    let grpcStatus: number | undefined
    let grpcMessage: string | undefined
    const read = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) grpcStatus = Number(headers["grpc-status"])
      const message = headers["grpc-message"]
      if (typeof message === "string") grpcMessage = decodeURIComponent(message)
    }
    stream.on("response", (headers) => {
      httpStatus = Number(headers[":status"])
      read(headers)
    })
    stream.on("trailers", read)
    stream.on("error", () => {})
    stream.on("close", () => {
      session.close()
      resume(Effect.succeed({ httpStatus, grpcStatus, grpcMessage, millis: Date.now() - started }))
    })
    stream.resume()
    stream.end(body)
    const timer = setTimeout(() => {
      resume(Effect.fail(new Error(`/vm.VM/${method}: no answer within ${boundMillis} ms`)))
    }, boundMillis)
    return Effect.sync(() => {
      clearTimeout(timer)
      session.destroy()
    })
  })


export const GiB = 1024 * 1024 * 1024
export const MiB = 1024 * 1024
