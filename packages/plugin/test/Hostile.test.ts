/**
 * Hostile and bad input to the SDK's `vm.VM` server (VmServer behind VmPlugin.serveLocal,
 * over a small stub VM): bytes that are not HTTP/2, frames and gRPC length prefixes that
 * claim more than they carry, bodies that are not protobuf, a 64 MiB ParseBlock (messages are
 * unlimited upstream), ids of the wrong length, and property-based arbitrary bodies for many
 * methods. Every request gets an answer (a gRPC status, or a GOAWAY and a closed connection)
 * within a bound, the process never crashes, and the server keeps serving valid calls.
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { VM } from "@vmre/proto/vm/vm_pb"
import { MemoryDatabase } from "@vmre/rpcdb"
import { GrpcClient } from "@vmre/transport"
import { type Duration, Effect, Metric, Schema, type Scope } from "effect"
import fc from "fast-check"
import * as http2 from "node:http2"
import { connect } from "node:net"
import { type Block, Id, VmDefinition, VmPlugin } from "../src/index.ts"
import { forceGc } from "../../../test-support/gc.ts"

// ---------------------------------------------------------------------------------------
// A stub VM: a genesis block, and blocks whose bytes start with 0x42 ("B")
// ---------------------------------------------------------------------------------------

/** The stub's refusal of bytes that are not one of its blocks: a typed error of the VM. */
class NotAStubBlock extends Schema.TaggedError<NotAStubBlock>()("NotAStubBlock", {
  length: Schema.Number,
  first: Schema.String
}) {
  override get message() {
    return `not a stub block: ${this.length} bytes starting with ${this.first}`
  }
}

const BLOCK_MAGIC = 0x42
const genesisBytes = new TextEncoder().encode("stub genesis")

interface Seen {
  /** Lengths of the ids and node ids the VM was handed, by method. */
  readonly ids: Array<{ readonly method: string; readonly length: number }>
}

const stubVm = (seen: Seen): VmDefinition.VmDefinition => {
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
const STUB_ERRORS = /^(not a stub block: \d+ bytes starting with (nothing|0x[0-9a-f]{2})|not found: block)$/

interface Served {
  readonly address: string
  readonly vm: Client<typeof VM>
  readonly seen: Seen
}

/** The stub on an in-process VM server, with a Connect client; optionally initialized. */
const serve = (options: { readonly initialize?: boolean } = {}): Effect.Effect<Served, never, Scope.Scope> =>
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
const call = <A>(f: () => Promise<A>, bound: Duration.Input = "10 seconds") =>
  Effect.promise(f).pipe(Effect.timeout(bound), Effect.orDie)
const fails = (f: () => Promise<unknown>, bound: Duration.Input = "10 seconds") =>
  Effect.promise(() =>
    f().then(
      () => {
        throw new Error("expected an error status, got an answer")
      },
      (error: unknown) => ConnectError.from(error)
    )
  ).pipe(Effect.timeout(bound), Effect.orDie)

/** The server still answers a valid call, quickly. */
const stillServes = (served: Served) =>
  Effect.gen(function*() {
    const answer = yield* call(() => served.vm.version({}), "2 seconds")
    expect(answer.version).toBe("stub/1.0.0")
  })

// ---------------------------------------------------------------------------------------
// Raw bytes and raw HTTP/2
// ---------------------------------------------------------------------------------------

interface Exchange {
  /** Everything the server sent before it closed the connection. */
  readonly received: Buffer
  readonly closedAfterMillis: number
}

/** Writes `bytes` on a fresh TCP connection; waits (at most `boundMillis`) for the server to close it. */
const exchange = (address: string, bytes: Uint8Array, boundMillis = 2_000) =>
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

interface Frame {
  readonly type: number
  readonly stream: number
  readonly payload: Buffer
}

const frames = (bytes: Buffer): Array<Frame> => {
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

const GOAWAY = 7
/** The error code of the server's GOAWAY, and its debug text. */
const goAway = (bytes: Buffer) => {
  const frame = frames(bytes).find((f) => f.type === GOAWAY)
  return frame === undefined ? undefined : {
    errorCode: frame.payload.readUInt32BE(4),
    debug: frame.payload.subarray(8).toString("latin1")
  }
}

const utf8 = (text: string) => new TextEncoder().encode(text)
const PREFACE = utf8("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
/** An empty SETTINGS frame. */
const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0])

/** A gRPC length-prefixed message; `claimed` overrides the length in its prefix. */
const envelope = (body: Uint8Array, claimed = body.length, flags = 0): Buffer => {
  const frame = Buffer.alloc(5 + body.length)
  frame[0] = flags
  frame.writeUInt32BE(claimed >>> 0, 1)
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(frame, 5)
  return frame
}

interface RawAnswer {
  readonly httpStatus: number | undefined
  /** `grpc-status` from the trailers, or from the headers of a trailers-only answer. */
  readonly grpcStatus: number | undefined
  readonly grpcMessage: string | undefined
  readonly millis: number
}

/** POSTs `body` (sent as is) to `/vm.VM/<method>` on a fresh HTTP/2 session; bounded. */
const rawCall = (address: string, method: string, body: Uint8Array, boundMillis = 5_000) =>
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


const GiB = 1024 * 1024 * 1024
const MiB = 1024 * 1024

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

describe("the VM server's port under bytes that are not HTTP/2", () => {
  it.live("garbage, an HTTP/1.1 request and a bad preface: GOAWAY and a closed connection at once; serving goes on", () =>
    Effect.gen(function*() {
      const served = yield* serve()
      const inputs: ReadonlyArray<readonly [string, Uint8Array]> = [
        ["random bytes", Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)],
        ["an HTTP/1.1 request", utf8("GET / HTTP/1.1\r\nHost: vm\r\n\r\n")],
        ["a bad HTTP/2 preface", utf8("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")]
      ]
      for (const [what, bytes] of inputs) {
        const outcome = yield* exchange(served.address, bytes)
        expect(outcome.closedAfterMillis, what).toBeLessThan(1_000)
        expect(goAway(outcome.received), what).toBeDefined()
        yield* stillServes(served)
      }
    }).pipe(Effect.scoped))

  it.live("64 peers that never finish their preface do not keep others from being served", () =>
    Effect.gen(function*() {
      const served = yield* serve()
      const [host, port] = served.address.split(":")
      const sockets = yield* Effect.acquireRelease(
        Effect.sync(() =>
          Array.from({ length: 64 }, () => {
            const socket = connect(Number(port), host!, () => socket.write(PREFACE.subarray(0, 10)))
            socket.on("error", () => {})
            return socket
          })
        ),
        (sockets) => Effect.sync(() => sockets.forEach((s) => s.destroy()))
      )
      yield* Effect.sleep("300 millis")
      yield* stillServes(served)
      // The server waits for the rest (it has no handshake timeout; grpc-go's is 120 s).
      const open = sockets.filter((s) => !s.destroyed && s.readyState === "open").length
      console.log(`[hostile] 64 half-open prefaces: ${open} still open after 300 ms; Version still answered`)
    }).pipe(Effect.scoped))

  it.live("a frame claiming 16 MiB (the limit is 16 KiB): GOAWAY(FRAME_SIZE_ERROR); serving goes on", () =>
    Effect.gen(function*() {
      const served = yield* serve()
      // A DATA frame header on stream 1 announcing 0xffffff bytes, followed by three.
      const claim = new Uint8Array([...PREFACE, ...SETTINGS, 0xff, 0xff, 0xff, 0x00, 0x00, 0, 0, 0, 1, 1, 2, 3])
      const outcome = yield* exchange(served.address, claim)
      expect(outcome.closedAfterMillis).toBeLessThan(1_000)
      expect(goAway(outcome.received)).toEqual({ errorCode: 6, debug: "too large frame size" })
      yield* stillServes(served)
    }).pipe(Effect.scoped))
})

describe("malformed gRPC requests get an error status", () => {
  it.live("not protobuf, cut envelopes, compression without an encoding, two messages", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      const cases: ReadonlyArray<readonly [string, string, Uint8Array, Code, RegExp]> = [
        // A varint that never ends.
        ["a truncated varint", "ParseBlock", envelope(new Uint8Array([0x08, 0xff, 0xff])), Code.Internal, /premature EOF/],
        // Field 1 of GetBlockRequest (bytes) announcing 80 bytes but carrying one.
        ["a length past the end", "GetBlock", envelope(new Uint8Array([0x0a, 0x50, 1])), Code.Internal, /premature EOF/],
        // Field number 0 (with the end-group wire type): no valid tag.
        ["an illegal tag", "ParseBlock", envelope(new Uint8Array([0x03, 1, 2])), Code.Internal, /illegal tag/],
        ["an envelope cut short", "Version", new Uint8Array([0, 0, 0]), Code.InvalidArgument, /incomplete envelope/],
        ["a compressed flag without grpc-encoding", "Version", envelope(new Uint8Array(), 0, 1), Code.Internal, /compress/],
        ["two messages to a unary method", "Version", Buffer.concat([envelope(new Uint8Array()), envelope(new Uint8Array())]),
          Code.Unimplemented, /extra input message/]
      ]
      for (const [what, method, body, code, text] of cases) {
        const answer = yield* rawCall(served.address, method, body)
        expect(answer.httpStatus, what).toBe(200)
        expect({ what, status: answer.grpcStatus }).toEqual({ what, status: code })
        expect(answer.grpcMessage, what).toMatch(text)
        expect(answer.millis, what).toBeLessThan(1_000)
      }
      yield* stillServes(served)
    }).pipe(Effect.scoped))

  it.live("a length prefix claiming 4 GiB: an early end is INVALID_ARGUMENT; held open, serving goes on and the claim is freed on cancel", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      // Eight claims held open on one session: 48 bytes sent in all.
      forceGc?.()
      const before = process.memoryUsage()
      const session = http2.connect(`http://${served.address}`)
      session.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => session.destroy()))
      const streams = Array.from({ length: 8 }, () => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/vm.VM/ParseBlock",
          "content-type": "application/grpc",
          te: "trailers"
        })
        stream.on("error", () => {})
        stream.resume()
        stream.write(envelope(new Uint8Array([BLOCK_MAGIC]), 0xffffffff))
        return stream
      })
      yield* Effect.sleep("300 millis")
      const held = process.memoryUsage()
      yield* stillServes(served)
      for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL)
      // The server sees the cancellations a moment later; then the reservations are garbage.
      const cancelled = Date.now()
      let after = process.memoryUsage()
      for (let i = 0; i < 50 && after.arrayBuffers - before.arrayBuffers >= 64 * MiB; i++) {
        yield* Effect.sleep("100 millis")
        forceGc?.()
        after = process.memoryUsage()
      }
      const freedMillis = Date.now() - cancelled
      console.log(
        `[hostile] 8 × 4 GiB length claims held open: arrayBuffers ${((held.arrayBuffers - before.arrayBuffers) / GiB).toFixed(1)} GiB ` +
          `reserved, rss ${((held.rss - before.rss) / MiB).toFixed(1)} MiB; ${freedMillis} ms after cancel${
            forceGc === undefined ? "" : " and GC"
          }: arrayBuffers ${((after.arrayBuffers - before.arrayBuffers) / MiB).toFixed(1)} MiB`
      )
      // Reserved (Connect allocates the claimed length up front) but never touched: the
      // resident memory does not follow the claim.
      expect(held.rss - before.rss).toBeLessThan(256 * MiB)
      if (forceGc !== undefined) expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * MiB)
      yield* stillServes(served)

      // A claim whose stream ends early is refused at once.
      const early = yield* rawCall(served.address, "ParseBlock", envelope(new Uint8Array([1, 2, 3]), 0xffffffff))
      expect(early.grpcStatus).toBe(Code.InvalidArgument)
      expect(early.grpcMessage).toBe("protocol error: incomplete envelope")
      expect(early.millis).toBeLessThan(1_000)
      yield* stillServes(served)
    }).pipe(Effect.scoped))
})

describe("a 64 MiB ParseBlock (messages are unlimited upstream) is answered", () => {
  it.live("with the VM's typed error for bytes it refuses, and with the block for bytes it parses", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      const size = 64 * MiB
      const garbage = new Uint8Array(size).fill(0x07)
      let started = Date.now()
      const refused = yield* fails(() => served.vm.parseBlock({ bytes: garbage }), "60 seconds")
      const refusedMillis = Date.now() - started
      expect(refused.code).toBe(Code.Unknown)
      expect(refused.rawMessage).toBe(`not a stub block: ${size} bytes starting with 0x07`)

      const valid = new Uint8Array(size).fill(0x01)
      valid[0] = BLOCK_MAGIC
      started = Date.now()
      const parsed = yield* call(() => served.vm.parseBlock({ bytes: valid }), "60 seconds")
      const parsedMillis = Date.now() - started
      expect(parsed.id).toEqual(Id.sha256(valid))
      expect(parsed.height).toBe(1n)
      console.log(`[hostile] 64 MiB ParseBlock: refused in ${refusedMillis} ms, parsed in ${parsedMillis} ms`)
      yield* stillServes(served)
    }).pipe(Effect.scoped), 60_000)
})

describe("ids of the wrong length", () => {
  const lengths = [0, 1, 20, 31, 33, 64, MiB]

  it.live("block ids of 0, 1, 20, 31, 33, 64 bytes and 1 MiB are INVALID_ARGUMENT naming the length; the VM never sees them", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      const { vm } = served
      for (const length of lengths) {
        const id = new Uint8Array(length).fill(9)
        const answers = [
          ["GetBlock", "id", yield* fails(() => vm.getBlock({ id }))],
          ["SetPreference", "id", yield* fails(() => vm.setPreference({ id }))],
          ["BlockAccept", "id", yield* fails(() => vm.blockAccept({ id }))],
          ["BlockReject", "id", yield* fails(() => vm.blockReject({ id }))],
          ["GetAncestors", "blk_id", yield* fails(() =>
            vm.getAncestors({ blkId: id, maxBlocksNum: 10, maxBlocksSize: 1_000_000, maxBlocksRetrivalTime: 1_000_000_000n })
          )]
        ] as const
        for (const [method, field, error] of answers) {
          expect({ method, length, code: error.code }).toEqual({ method, length, code: Code.InvalidArgument })
          expect(error.rawMessage).toBe(`${field} must be 32 bytes, got ${length}`)
        }
      }
      expect(served.seen.ids).toEqual([])
      yield* stillServes(served)
    }).pipe(Effect.scoped))

  // Known gap (reported): upstream's VM server converts node ids with ids.ToNodeID and chain
  // ids with ids.ToID, refusing any other length; VmServer hands them to the VM unchecked,
  // although the VmDefinition interface documents 20-byte node ids. Turn this into `it.live`
  // once VmServer checks them.
  it.live("node ids (20 bytes) and chain ids (32 bytes) of other lengths are refused before the VM sees them", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      const { vm } = served
      for (const length of [0, 19, 21, 32]) {
        const nodeId = new Uint8Array(length).fill(3)
        const chainId = new Uint8Array(length === 32 ? 31 : length).fill(4)
        const deadline = { seconds: 2_000_000_000n, nanos: 0 }
        const calls: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
          ["Connected", () => vm.connected({ nodeId, name: "avalanchego", major: 1, minor: 14, patch: 2 })],
          ["Disconnected", () => vm.disconnected({ nodeId })],
          ["AppRequest", () => vm.appRequest({ nodeId, requestId: 1, deadline, request: new Uint8Array([1]) })],
          ["AppResponse", () => vm.appResponse({ nodeId, requestId: 1, response: new Uint8Array([1]) })],
          ["AppRequestFailed", () => vm.appRequestFailed({ nodeId, requestId: 1, errorCode: -1, errorMessage: "x" })],
          ["AppGossip", () => vm.appGossip({ nodeId, msg: new Uint8Array([1]) })],
          ["CrossChainAppRequest", () => vm.crossChainAppRequest({ chainId, requestId: 1, deadline, request: new Uint8Array() })],
          ["CrossChainAppResponse", () => vm.crossChainAppResponse({ chainId, requestId: 1, response: new Uint8Array() })],
          ["CrossChainAppRequestFailed", () =>
            vm.crossChainAppRequestFailed({ chainId, requestId: 1, errorCode: 1, errorMessage: "x" })]
        ]
        for (const [method, send] of calls) {
          const error = yield* fails(send)
          expect({ method, length, code: error.code }).toEqual({ method, length, code: Code.InvalidArgument })
        }
      }
      expect(served.seen.ids).toEqual([])
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/** Runs of the property (4000 pass in ~40 s; 300 keep the suite fast). */
const FUZZ_RUNS = 300

/** Methods fuzzed (Initialize and Shutdown left out: the server stays initialized). */
const METHODS = [
  "ParseBlock",
  "GetBlock",
  "BlockVerify",
  "BlockAccept",
  "BlockReject",
  "SetPreference",
  "BatchedParseBlock",
  "GetAncestors",
  "GetBlockIDAtHeight",
  "SetState",
  "BuildBlock",
  "Connected",
  "AppGossip",
  "AppRequest",
  "Health",
  "Gather",
  "Version",
  "ParseStateSummary",
  "StateSummaryAccept"
] as const

/** Valid protobuf of random fields (numbers 1–16, any wire type): decodes often, into anything. */
const protobufLike = fc.array(
  fc.record({
    field: fc.integer({ min: 1, max: 16 }),
    value: fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ type: WireType.Varint, v })),
      fc.uint8Array({ maxLength: 80 }).map((v) => ({ type: WireType.LengthDelimited, v })),
      fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ type: WireType.Bit32, v })),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ type: WireType.Bit64, v }))
    )
  }),
  { maxLength: 8 }
).map((fields) => {
  const writer = new BinaryWriter()
  for (const { field, value } of fields) {
    writer.tag(field, value.type)
    if (value.type === WireType.Varint) writer.uint64(value.v as bigint)
    else if (value.type === WireType.LengthDelimited) writer.bytes(value.v as Uint8Array)
    else if (value.type === WireType.Bit32) writer.fixed32(value.v as number)
    else writer.fixed64(value.v as bigint)
  }
  return writer.finish()
})

const requestBody = fc.oneof(
  // Arbitrary bytes in a valid envelope: the protobuf decoder's input.
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ kind: "enveloped bytes", body: envelope(bytes) })),
  // Field soup in a valid envelope: decodes, with wrong wire types, odd lengths, huge numbers.
  protobufLike.map((bytes) => ({ kind: "enveloped protobuf", body: envelope(bytes) })),
  // Arbitrary bytes as the whole body: any envelope flags and length claims.
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: "raw bytes", body: Buffer.from(bytes) }))
)

describe("properties: arbitrary request bodies", () => {
  it.live("every body to every method gets a status within 5 s, never a bare error or an UNKNOWN the VM did not raise, and serving goes on", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      const statuses = new Map<string, number>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.constantFrom(...METHODS), requestBody, (method, { body, kind }) =>
            Effect.runPromise(
              Effect.gen(function*() {
                const answer = yield* rawCall(served.address, method, body)
                const where = `${method} with ${kind} ${Buffer.from(body).toString("hex").slice(0, 64)}`
                expect(answer.httpStatus, where).toBe(200)
                expect(answer.grpcStatus, where).toBeTypeOf("number")
                if (answer.grpcStatus !== 0) expect(answer.grpcMessage ?? "", where).not.toBe("")
                // UNKNOWN carries an error of the VM; anything else would be a defect of the SDK.
                if (answer.grpcStatus === Code.Unknown) expect(answer.grpcMessage, where).toMatch(STUB_ERRORS)
                const key = answer.grpcStatus === 0 ? "OK" : Code[answer.grpcStatus!] ?? String(answer.grpcStatus)
                statuses.set(key, (statuses.get(key) ?? 0) + 1)
                yield* stillServes(served)
              })
            )),
          { numRuns: FUZZ_RUNS }
        )
      )
      console.log(`[hostile] ${FUZZ_RUNS} arbitrary requests over ${METHODS.length} methods, answers by status: ${
        JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a.localeCompare(b))))
      }`)
    }).pipe(Effect.scoped), 60_000)
})
