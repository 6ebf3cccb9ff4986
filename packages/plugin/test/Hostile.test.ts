/**
 * Hostile and bad input to the SDK's `vm.VM` server (VmServer behind VmPlugin.serveLocal,
 * over a small stub VM): bytes that are not HTTP/2, frames and gRPC length prefixes that
 * claim more than they carry, bodies that are not protobuf, a 64 MiB ParseBlock (messages are
 * unlimited upstream), ids of the wrong length (arbitrary bodies: HostileProperties.test.ts).
 * Every request gets an answer (a gRPC status, or a GOAWAY and a closed connection) within a
 * bound, the process never crashes, and the server keeps serving valid calls.
 */
import { Code } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http2 from "node:http2"
import { connect } from "node:net"
import { Id } from "../src/index.ts"
import { forceGc } from "../../../test-support/gc.ts"
import {
  BLOCK_MAGIC,
  call,
  envelope,
  exchange,
  fails,
  GiB,
  goAway,
  MiB,
  PREFACE,
  rawCall,
  serve,
  SETTINGS,
  stillServes,
  utf8
} from "./hostileSupport.ts"

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
