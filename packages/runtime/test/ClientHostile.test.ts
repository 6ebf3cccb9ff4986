/**
 * The ChainVm client against bad peers, each case with an explicit bound: an address nobody
 * listens on, a server that accepts and never answers, servers that answer with bytes that
 * are not HTTP/2 or with gRPC answers that break the protocol, a response that claims 4 GiB;
 * and, through the engine, a plugin that crashes after the handshake while calls are
 * pending (every pending and later call fails with VmProcessExited, and the Lifecycle
 * publishes an Exited event that was not requested).
 *
 * (A VM that reports a non-loopback address at the handshake is covered by the VmRuntime and
 * GoPlugin tests: InvalidVmAddress.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Metric, type Scope } from "effect"
import * as http2 from "node:http2"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { ChainVm, type ChainVmConfig } from "../src/index.ts"
import type { VmCallError, VmKnownError } from "../src/Errors.ts"
import { metrics } from "../src/Lifecycle.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import { id } from "./ChainVmSupport.ts"
import { goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { captureLogs, collectEvents, waitUntil } from "./support.ts"
import { forceGc } from "../../../test-support/gc.ts"

// ---------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------

/** The per-call timeout of the clients under test. */
const CALL_TIMEOUT_MILLIS = 1_000
/** Timers and scheduling on a busy 2-core machine: how late a timeout may fire. */
const TIMER_SLACK_MILLIS = 750
/** A failure that needs no timeout (refused, reset, a protocol error) comes within this. */
const FAST_FAIL_MILLIS = 500
/** A dying plugin is noticed, its stderr drained (≤ 500 ms) and every call failed within this. */
const EXIT_NOTICED_MILLIS = 3_000

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/** Runs a call that must fail; its error and how long it took (never more than 10 s). */
const failure = <A, E extends VmCallError | VmKnownError>(call: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const error = yield* Effect.flip(call).pipe(Effect.timeout("10 seconds"))
    return { error, millis: Date.now() - started }
  })

const describeError = (error: VmCallError | VmKnownError) =>
  "code" in error ? `${error._tag}(${error.code}): ${"reason" in error ? error.reason : ""}` : `${error._tag}: ${error.message}`

/** A loopback port with nothing listening on it. */
const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

interface TcpPeer {
  readonly address: string
  /** Connections accepted, and how many of them the client has closed since. */
  readonly accepted: () => number
  readonly closed: () => number
}

/** A TCP server that hands every accepted socket to `onConnection`; closed with the scope. */
const tcpPeer = (onConnection: (socket: net.Socket) => void): Effect.Effect<TcpPeer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; sockets: Set<net.Socket>; counts: { accepted: number; closed: number } }>(
      (resume) => {
        const sockets = new Set<net.Socket>()
        const counts = { accepted: 0, closed: 0 }
        const server = net.createServer((socket) => {
          counts.accepted++
          sockets.add(socket)
          // Read (and drop) whatever comes, so that the client's close is seen.
          socket.resume()
          socket.on("error", () => {})
          socket.on("close", () => {
            counts.closed++
            sockets.delete(socket)
          })
          onConnection(socket)
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets, counts })))
      }
    ),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  ).pipe(Effect.map(({ server, counts }) => ({
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    accepted: () => counts.accepted,
    closed: () => counts.closed
  })))

/** An HTTP/2 server whose streams `onStream` answers (or not); closed with the scope. */
const h2Peer = (
  onStream: (stream: http2.ServerHttp2Stream) => void,
  onSession: (session: http2.ServerHttp2Session) => void = () => {}
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: http2.Http2Server; sessions: Set<http2.ServerHttp2Session> }>((resume) => {
      const sessions = new Set<http2.ServerHttp2Session>()
      const server = http2.createServer()
      server.on("session", (session) => {
        sessions.add(session)
        session.on("error", () => {})
        session.on("close", () => sessions.delete(session))
        onSession(session)
      })
      server.on("stream", (stream) => {
        stream.on("error", () => {})
        onStream(stream as http2.ServerHttp2Stream)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sessions })))
    }),
    ({ server, sessions }) =>
      Effect.sync(() => {
        for (const session of sessions) session.destroy()
        server.close()
      })
  ).pipe(Effect.map(({ server }) => `127.0.0.1:${(server.address() as net.AddressInfo).port}`))

/** A gRPC length-prefixed message; `claimed` overrides the length in its prefix. */
const envelope = (body: Uint8Array, claimed = body.length): Buffer => {
  const frame = Buffer.alloc(5 + body.length)
  frame.writeUInt32BE(claimed >>> 0, 1)
  Buffer.from(body).copy(frame, 5)
  return frame
}

/** Answers with `body` and then the trailers (grpc-status 0 unless given). */
const answer = (body: Uint8Array, trailers: http2.OutgoingHttpHeaders = { "grpc-status": "0" }) =>
(stream: http2.ServerHttp2Stream) => {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true })
  stream.on("wantTrailers", () => stream.sendTrailers(trailers))
  stream.end(body)
}

const clientOf = (address: string) => ChainVm.make({ address, callTimeout: `${CALL_TIMEOUT_MILLIS} millis` })


// ---------------------------------------------------------------------------------------
// Peers that do not answer
// ---------------------------------------------------------------------------------------

describe("the client against a peer that does not answer", () => {
  it.live("nobody listens: a call fails after the 1 s refusal grace saying why, not at its 30 s timeout; Health at once", () =>
    Effect.gen(function*() {
      const address = `127.0.0.1:${yield* freePort}`
      const client = yield* ChainVm.make({ address, callTimeout: "30 seconds" })
      const version = yield* failure(client.version())
      expect(version.error).toMatchObject({ _tag: "VmUnavailable", method: "Version", code: "Unavailable" })
      expect(version.error.message).toContain(`connection refused at ${address}: the vm reported this address at its handshake`)
      expect(version.error.message).toMatch(/ECONNREFUSED/)
      expect(version.millis).toBeGreaterThanOrEqual(1_000 - 50)
      expect(version.millis).toBeLessThanOrEqual(1_000 + TIMER_SLACK_MILLIS + 1_000)
      // A timeout shorter than the grace still ends the call, and says what the connection did.
      const quickClient = yield* ChainVm.make({ address, callTimeout: "300 millis" })
      const quick = yield* failure(quickClient.version())
      expect(quick.error).toMatchObject({ _tag: "VmUnavailable", code: "DeadlineExceeded" })
      expect(quick.error.message).toMatch(/no answer within 300ms; the last connection attempt failed: .*ECONNREFUSED/)
      const health = yield* failure(client.health())
      expect(health.error).toMatchObject({ _tag: "VmUnavailable", method: "Health", code: "Unavailable" })
      expect(health.error.message).toMatch(/ECONNREFUSED/)
      expect(health.millis).toBeLessThan(FAST_FAIL_MILLIS)
    }).pipe(Effect.scoped))

  it.live("a server that accepts and never answers: VmUnavailable(DeadlineExceeded) at the timeout; the socket is closed with the client", () =>
    Effect.gen(function*() {
      const peer = yield* tcpPeer(() => {})
      yield* Effect.gen(function*() {
        const client = yield* clientOf(peer.address)
        for (const call of [client.version(), client.health(), client.getBlock(id(1))]) {
          const { error, millis } = yield* failure(call)
          expect(error).toMatchObject({ _tag: "VmUnavailable", code: "DeadlineExceeded" })
          expect(millis).toBeGreaterThanOrEqual(CALL_TIMEOUT_MILLIS - 50)
          expect(millis).toBeLessThanOrEqual(CALL_TIMEOUT_MILLIS + TIMER_SLACK_MILLIS)
        }
        expect(peer.accepted()).toBeGreaterThan(0)
      }).pipe(Effect.scoped)
      // The client's scope is closed: none of its connections stays open.
      expect(yield* waitUntil(() => peer.closed() === peer.accepted(), 1_000)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("an HTTP/2 peer that never sends response headers: DeadlineExceeded at the timeout, and the stream is cancelled on the peer", () =>
    Effect.gen(function*() {
      let cancelled = 0
      const address = yield* h2Peer((stream) => stream.on("close", () => cancelled++))
      const client = yield* clientOf(address)
      const { error, millis } = yield* failure(client.buildBlock())
      expect(error).toMatchObject({ _tag: "VmUnavailable", method: "BuildBlock", code: "DeadlineExceeded" })
      expect(millis).toBeLessThanOrEqual(CALL_TIMEOUT_MILLIS + TIMER_SLACK_MILLIS)
      // Nothing is left pending on the VM's side.
      expect(yield* waitUntil(() => cancelled === 1, FAST_FAIL_MILLIS)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a response that claims 4 GiB and stalls: DeadlineExceeded at the timeout; the client's reservation is freed", () =>
    Effect.gen(function*() {
      const address = yield* h2Peer((stream) => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" })
        stream.write(envelope(new Uint8Array([1]), 0xffffffff))
      })
      forceGc?.()
      const before = process.memoryUsage().arrayBuffers
      const client = yield* clientOf(address)
      const { error, millis } = yield* failure(client.version())
      expect(error).toMatchObject({ _tag: "VmUnavailable", code: "DeadlineExceeded" })
      expect(millis).toBeLessThanOrEqual(CALL_TIMEOUT_MILLIS + TIMER_SLACK_MILLIS)
      let after = process.memoryUsage().arrayBuffers
      for (let i = 0; i < 30 && forceGc !== undefined && after - before > 64 * 1024 * 1024; i++) {
        yield* Effect.sleep("100 millis")
        forceGc()
        after = process.memoryUsage().arrayBuffers
      }
      console.log(`[client-hostile] 4 GiB response claim: arrayBuffers ${((after - before) / 1024 / 1024).toFixed(1)} MiB after the timeout${forceGc === undefined ? "" : " and GC"}`)
      if (forceGc !== undefined) expect(after - before).toBeLessThan(64 * 1024 * 1024)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------
// Peers that answer garbage
// ---------------------------------------------------------------------------------------

const TYPED_CALL_ERRORS = ["VmUnavailable", "VmCallFailed", "InvalidResponse"]

describe("the client against a peer that answers garbage", () => {
  it.live("bytes that are not HTTP/2 (an HTTP/1.1 response, random bytes): VmUnavailable at once, not a hang", () =>
    Effect.gen(function*() {
      const peers = [
        ["an HTTP/1.1 response", yield* tcpPeer((s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))],
        ["random bytes, then close", yield* tcpPeer((s) => s.end(Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 31 + 7) % 256))))]
      ] as const
      for (const [what, peer] of peers) {
        const client = yield* clientOf(peer.address)
        for (const call of [client.version(), client.health()]) {
          const { error, millis } = yield* failure(call)
          console.log(`[client-hostile] ${what}: ${describeError(error)} after ${millis} ms`)
          expect({ what, tag: error._tag }).toEqual({ what, tag: "VmUnavailable" })
          expect(millis, what).toBeLessThan(FAST_FAIL_MILLIS)
        }
      }
    }).pipe(Effect.scoped))

  const garbage: ReadonlyArray<readonly [string, (stream: http2.ServerHttp2Stream) => void]> = [
    ["a body that is not protobuf", answer(envelope(new Uint8Array([0x0a, 0x50, 1])))],
    ["HTML instead of gRPC", (stream) => {
      stream.respond({ ":status": 200, "content-type": "text/html" })
      stream.end("<html>not a vm</html>")
    }],
    ["HTTP 503", (stream) => {
      stream.respond({ ":status": 503 })
      stream.end()
    }],
    ["an invalid grpc-status", (stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "abc" }, { endStream: true })
    }],
    ["no grpc-status at all", (stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" })
      stream.end(envelope(new Uint8Array()))
    }],
    ["two messages for a unary call", answer(Buffer.concat([envelope(new Uint8Array()), envelope(new Uint8Array())]))],
    ["a 4 GiB claim cut short", answer(envelope(new Uint8Array([1]), 0xffffffff))],
    ["RST_STREAM(REFUSED_STREAM)", (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)]
  ]

  it.live(`gRPC answers that break the protocol (${garbage.length} kinds) and a GOAWAY: a typed error at once, never a success or a hang`, () =>
    Effect.gen(function*() {
      for (const [what, onStream] of garbage) {
        const client = yield* clientOf(yield* h2Peer(onStream))
        const { error, millis } = yield* failure(client.version())
        console.log(`[client-hostile] ${what}: ${describeError(error)} after ${millis} ms`)
        expect(TYPED_CALL_ERRORS, what).toContain(error._tag)
        expect(error.method, what).toBe("Version")
        expect(millis, what).toBeLessThan(FAST_FAIL_MILLIS)
        // gRPC maps HTTP 503 to UNAVAILABLE: the one case whose class is certain.
        if (what === "HTTP 503") expect(error).toMatchObject({ _tag: "VmUnavailable", code: "Unavailable" })
      }
      // A peer that sends GOAWAY as soon as the connection is up.
      const client = yield* clientOf(yield* h2Peer(() => {}, (session) => session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)))
      const { error, millis } = yield* failure(client.version())
      console.log(`[client-hostile] GOAWAY(ENHANCE_YOUR_CALM) at once: ${describeError(error)} after ${millis} ms`)
      expect(error._tag).toBe("VmUnavailable")
      expect(millis).toBeLessThan(FAST_FAIL_MILLIS)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------
// A plugin that crashes after the handshake, through the engine
// ---------------------------------------------------------------------------------------

const crashFixture = fileURLToPath(new URL("./fixtures/crash-after-handshake-plugin.ts", import.meta.url))


const exitsCounted = (reason: string) =>
  Effect.map(Metric.value(Metric.withAttributes(metrics.exits, { reason })), (state) => state.count)

const crashes = [
  { how: "exit code 42", env: {}, exit: { code: 42, signal: null }, reason: "exit_nonzero" },
  { how: "SIGKILL (as the OOM killer)", env: { FIXTURE_CRASH: "sigkill" }, exit: { code: null, signal: "SIGKILL" }, reason: "signal_SIGKILL" }
] as const

describe("a plugin that crashes after the handshake (VmRuntime + ChainVm.launch)", () => {
  for (const crash of crashes) {
    it.live(`${crash.how} with 3 calls pending: every pending and later call fails with VmProcessExited; Lifecycle publishes Exited(requested: false)`, () => {
      const logs = captureLogs()
      const name = `crash-${crash.reason}`
      return Effect.gen(function*() {
        const events = yield* collectEvents
        const countedBefore = yield* exitsCounted(crash.reason)
        const pid = yield* Effect.gen(function*() {
          const config: ChainVmConfig = {
            path: process.execPath,
            args: [crashFixture],
            name,
            env: crash.env,
            // Long: only the crash may end the pending calls.
            callTimeout: "30 seconds",
            stopTimeout: "1 second"
          }
          const { client, vm } = yield* ChainVm.launch(config)
          expect(yield* client.version()).toBe("crash-fixture/1.0.0")
          const pending = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(failure(client.buildBlock())))
          const results = yield* Effect.forEach(pending, (fiber) => Fiber.join(fiber))
          for (const { error, millis } of results) {
            expect(error).toMatchObject({
              _tag: "VmProcessExited",
              method: "BuildBlock",
              pid: vm.pid,
              exitCode: crash.exit.code,
              signal: crash.exit.signal
            })
            if (error._tag !== "VmProcessExited") continue
            expect(error.stderrTail.some((line) => line.startsWith("fatal error: simulated crash with 3 BuildBlock calls pending"))).toBe(true)
            expect(millis).toBeLessThan(EXIT_NOTICED_MILLIS + 1_000)
          }
          expect(yield* vm.exit).toEqual(crash.exit)
          // Later calls fail at once, whatever their kind.
          const later: ReadonlyArray<Effect.Effect<unknown, VmCallError | VmKnownError>> = [
            client.version(),
            client.health(),
            client.getBlock(id(1)),
            client.waitForEvent(),
            client.shutdown()
          ]
          for (const call of later) {
            const { error, millis } = yield* failure(call)
            expect(error).toMatchObject({ _tag: "VmProcessExited", exitCode: crash.exit.code, signal: crash.exit.signal })
            expect(millis).toBeLessThan(EXIT_NOTICED_MILLIS)
          }
          return vm.pid
        }).pipe(Effect.scoped)

        // The Lifecycle saw a crash, not a stop, and the exit metric counted it.
        expect(yield* waitUntil(() => events.some((e) => e._tag === "Exited"), 2_000)).toBe(true)
        expect(events.map((e) => e._tag)).toEqual(["Spawned", "Ready", "Exited"])
        expect(events.find((e) => e._tag === "Exited")).toEqual({
          _tag: "Exited",
          name,
          pid,
          exit: crash.exit,
          requested: false
        })
        expect((yield* exitsCounted(crash.reason)) - countedBefore).toBe(1)
        // The stop sequence saw the dead process: no Shutdown call to nobody.
        expect(logs.lines.some((l) => l.message === `${name} already exited: no Shutdown call`)).toBe(true)
      }).pipe(Effect.provide(Layer.merge(VmRuntime.layer, logs.layer)), Effect.scoped)
    }, 20_000)
  }

  it.live.skipIf(skipGo)("a Go plugin that exits (code 7) right after the handshake: calls fail with VmProcessExited; Exited(requested: false)", () =>
    Effect.gen(function*() {
      const events = yield* collectEvents
      yield* Effect.gen(function*() {
        const { client, vm } = yield* ChainVm.launch({
          path: goPluginPath,
          name: "go-exit-7",
          env: { GO_PLUGIN_MODE: "exit-after-handshake", GO_PLUGIN_EXIT_CODE: "7" },
          callTimeout: "5 seconds"
        })
        expect(yield* vm.exit.pipe(Effect.timeout("5 seconds"))).toEqual({ code: 7, signal: null })
        const calls: ReadonlyArray<Effect.Effect<unknown, VmCallError>> = [client.version(), client.buildBlock(), client.health()]
        for (const call of calls) {
          const { error, millis } = yield* failure(call)
          expect(error).toMatchObject({ _tag: "VmProcessExited", pid: vm.pid, exitCode: 7, signal: null })
          expect(millis).toBeLessThan(EXIT_NOTICED_MILLIS)
        }
      }).pipe(Effect.scoped)
      expect(yield* waitUntil(() => events.some((e) => e._tag === "Exited"), 2_000)).toBe(true)
      expect(events.find((e) => e._tag === "Exited")).toMatchObject({ name: "go-exit-7", exit: { code: 7, signal: null }, requested: false })
    }).pipe(Effect.provide(Layer.merge(VmRuntime.layer, captureLogs().layer)), Effect.scoped))
})
