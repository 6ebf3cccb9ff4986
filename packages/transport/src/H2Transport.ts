/**
 * A gRPC client engine on bare `node:http2`, plugged into Connect as a `Transport`: the same
 * typed clients, errors and codes, without the generic web-standard machinery Connect's own
 * transport runs per call (async iterables, linked abort controllers and the DOMException and
 * ConnectError they make on every call, header conversions), which the bench profiles as most
 * of a unary call's client CPU.
 *
 * What it does is gRPC over h2c as the Go nodes speak it, with Connect's own gRPC protocol
 * helpers for the parts that carry meaning when an answer is not a plain success (response
 * validation, trailer status with `grpc-status-details-bin`): length-prefixed messages; the
 * deadline sent and enforced (`DeadlineExceeded`), cancellation as RST_STREAM(CANCEL);
 * trailers-only responses; a maximum received message size (`ResourceExhausted`); GOAWAY and a
 * lost connection (`Unavailable`, the next call dials again); keepalive pings as upstream
 * configures them. Unary and streaming calls. Compression is not offered (the Go nodes send
 * none unless asked).
 *
 * The default engine of `GrpcClient.transport`; Connect's transport stays the reference and
 * the fallback (`GrpcEngine`).
 */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf"
import {
  Code,
  ConnectError,
  type StreamResponse,
  type Transport,
  type UnaryResponse
} from "@connectrpc/connect"
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc"
import type { DescMethodStreaming, DescMethodUnary } from "@bufbuild/protobuf"
import * as http2 from "node:http2"
import { decode, FrameReader, webHeaders, writeMessage } from "./GrpcFrames.ts"
import { type HeadersInit, outgoingHeaders, type UnaryAnswer, unaryResponse } from "./H2Unary.ts"

export interface H2TransportOptions {
  /** Largest message accepted from the server (default 4 GiB - 1, as Connect's ceiling). */
  readonly readMaxBytes?: number | undefined
  /** Ping interval and timeout of an open connection (upstream: 30 s and 10 s). */
  readonly keepaliveIntervalMillis?: number | undefined
  readonly keepaliveTimeoutMillis?: number | undefined
  /** How long a connection attempt may take (default 5 s). */
  readonly connectTimeoutMillis?: number | undefined
}

export interface H2Transport {
  readonly transport: Transport
  /** Closes the connection (pending calls fail with `Unavailable`). */
  readonly close: () => void
  /** "open" with a connected session, "connecting" while one is being made, "closed" without one (as Connect's session manager says). */
  readonly state: () => "open" | "connecting" | "closed"
  /** Connects (or waits for the connection being made): "open", or "error" with {@link error} saying why. */
  readonly connect: () => Promise<"open" | "error">
  /** Why the last connection attempt failed. */
  readonly error: () => unknown
}

/**
 * The server reset the stream with `code`. (`http2.constants` is read at the call, never at load: a
 * packed plugin's start-up snapshot is taken with node:http2 not loaded yet; see `vmre pack`.)
 */
const resetError = (code: number) =>
  new ConnectError(
    `stream reset by the server (code ${code})`,
    code === http2.constants.NGHTTP2_CANCEL ? Code.Canceled : Code.Unavailable
  )

/** One streaming call's HTTP/2 stream: its response head, its messages as they arrive, its end. */
interface Exchange {
  readonly head: Promise<{ status: number; header: Headers }>
  readonly messages: AsyncIterable<Uint8Array>
  /** Settles when the response is complete: its trailers (or the error the call ended with). */
  readonly end: Promise<Headers>
}

export const make = (address: string, options: H2TransportOptions = {}): H2Transport => {
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff
  const keepaliveInterval = options.keepaliveIntervalMillis ?? 30_000
  const keepaliveTimeout = options.keepaliveTimeoutMillis ?? 10_000
  const connectTimeout = options.connectTimeoutMillis ?? 5_000
  let session: http2.ClientHttp2Session | undefined
  let pinger: ReturnType<typeof setInterval> | undefined
  let closed = false
  // Calls in flight keep the process alive through their session; an idle session does not.
  let open = 0
  let lastError: unknown

  const drop = (s: http2.ClientHttp2Session) => {
    if (session === s) {
      session = undefined
      if (pinger !== undefined) clearInterval(pinger)
      pinger = undefined
    }
    if (!s.destroyed) s.destroy()
  }

  const connect = (): http2.ClientHttp2Session => {
    if (closed) throw new ConnectError("the transport is closed", Code.Unavailable)
    if (session !== undefined && !session.closed && !session.destroyed) return session
    const s = http2.connect(`http://${address}`, {
      settings: { enablePush: false, maxHeaderListSize: 64 * 1024 },
      // Message sizes are unlimited upstream: let a session hold what Connect's ceiling allows.
      maxSessionMemory: 4096
    })
    session = s
    s.on("error", (error) => {
      lastError = error
      drop(s)
    })
    s.on("close", () => drop(s))
    // A GOAWAY: no new streams here; calls in flight finish, the next call dials again.
    s.on("goaway", () => {
      if (session === s) session = undefined
    })
    const connecting = setTimeout(() => {
      lastError = new Error(`no connection to ${address} within ${connectTimeout} ms`)
      drop(s)
    }, connectTimeout)
    s.once("connect", () => clearTimeout(connecting))
    s.once("close", () => clearTimeout(connecting))
    // Keepalive as upstream: a ping every interval; no answer within the timeout ends the session.
    pinger = setInterval(() => {
      if (s.destroyed || s.closed) return
      const timer = setTimeout(() => drop(s), keepaliveTimeout)
      timer.unref()
      s.ping((error) => {
        clearTimeout(timer)
        if (error) drop(s)
      })
    }, keepaliveInterval)
    pinger.unref()
    s.unref()
    return s
  }

  /** A new stream on the session (dialled if needed); calls in flight keep the process alive. */
  const openStream = (outgoing: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream => {
    const s = connect()
    const stream = s.request(outgoing, { endStream: false })
    if (open++ === 0) s.ref()
    stream.once("close", () => {
      if (--open === 0 && !s.destroyed) s.unref()
    })
    return stream
  }

  /**
   * One unary call as one promise over the stream's events: no async iterables, no Web
   * `Headers` unless something is unusual (then Connect's own validation reads them), and no
   * error objects made on the way to a success.
   */
  const unaryCall = (
    path: string,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    request: Uint8Array
  ): Promise<UnaryAnswer> =>
    new Promise<UnaryAnswer>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream
      try {
        stream = openStream(outgoingHeaders(path, timeoutMs, header))
      } catch (error) {
        return reject(ConnectError.from(error, Code.Unavailable))
      }
      let settled = false
      let head: http2.IncomingHttpHeaders | undefined
      let trailer: http2.IncomingHttpHeaders | undefined
      let message: Uint8Array | undefined
      let extra = false
      const reader = new FrameReader(readMaxBytes)
      const settle = (error: ConnectError | undefined) => {
        if (settled) return
        settled = true
        if (deadline !== undefined) clearTimeout(deadline)
        signal?.removeEventListener("abort", onAbort)
        if (error === undefined) return
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL)
        reject(error)
      }
      const onAbort = () => settle(ConnectError.from(signal!.reason, Code.Canceled))
      // The deadline is enforced here too: the server may not.
      const deadline = timeoutMs === undefined ? undefined :
        setTimeout(() => settle(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs)
      if (signal?.aborted) return onAbort()
      signal?.addEventListener("abort", onAbort, { once: true })
      stream.on("response", (h) => (head = h))
      stream.on("trailers", (t) => (trailer = t))
      stream.on("data", (chunk: Buffer) => {
        if (settled) return
        try {
          for (const m of reader.push(chunk)) {
            if (message === undefined) message = m
            else extra = true
          }
        } catch (error) {
          settle(ConnectError.from(error))
        }
      })
      stream.on("error", (error) => settle(ConnectError.from(error, Code.Unavailable)))
      stream.on("close", () => {
        if (settled) return
        const code = stream.rstCode
        if (code !== 0 && code !== undefined) return settle(resetError(code))
        if (head === undefined) return settle(new ConnectError(`the stream closed before a response (code ${code})`, Code.Unavailable))
        if (reader.pending > 0) return settle(new ConnectError("the response ended inside a message", Code.Internal))
        settle(undefined)
        resolve({ head, trailer, message, extra })
      })
      writeMessage(stream, request, true)
    })

  const exchange = (
    path: string,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    requests: AsyncIterable<Uint8Array>
  ): Exchange => {
    const outgoing = outgoingHeaders(path, timeoutMs, header)
    let fail: (error: ConnectError) => void = () => {}
    const failed = new Promise<never>((_, reject) => (fail = reject))
    failed.catch(() => {})
    let stream: http2.ClientHttp2Stream
    try {
      stream = openStream(outgoing)
    } catch (error) {
      const e = ConnectError.from(error, Code.Unavailable)
      return { head: Promise.reject(e), messages: (async function*() { throw e })(), end: Promise.reject(e) }
    }
    const cancel = (error: ConnectError) => {
      fail(error)
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL)
    }
    // The deadline is enforced here too: the server may not.
    const deadline = timeoutMs === undefined ? undefined : setTimeout(() => cancel(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs)
    const onAbort = () => cancel(ConnectError.from(signal!.reason, Code.Canceled))
    if (signal?.aborted) onAbort()
    else signal?.addEventListener("abort", onAbort, { once: true })
    const cleanup = () => {
      if (deadline !== undefined) clearTimeout(deadline)
      signal?.removeEventListener("abort", onAbort)
    }

    const head = new Promise<{ status: number; header: Headers }>((resolve, reject) => {
      stream.once("response", (h) => resolve({ status: Number(h[":status"]), header: webHeaders(h) }))
      stream.once("error", (error) => reject(ConnectError.from(error, Code.Unavailable)))
      stream.once("close", () => reject(new ConnectError(`the stream closed before a response (code ${stream.rstCode})`, Code.Unavailable)))
      failed.catch(reject)
    })
    head.catch(() => {})
    let trailers: Headers = new Headers()
    stream.once("trailers", (t) => (trailers = webHeaders(t)))
    const end = new Promise<Headers>((resolve, reject) => {
      stream.once("end", () => resolve(trailers))
      stream.once("close", () => {
        if (stream.rstCode !== 0 && stream.rstCode !== undefined) reject(resetError(stream.rstCode))
        else resolve(trailers)
      })
      stream.once("error", (error) => reject(ConnectError.from(error, Code.Unavailable)))
      failed.catch(reject)
    }).finally(cleanup)
    end.catch(() => {})

    void (async () => {
      try {
        for await (const message of requests) {
          if (!writeMessage(stream, message, false)) await new Promise((resolve) => stream.once("drain", resolve))
        }
        stream.end()
      } catch (error) {
        cancel(ConnectError.from(error))
      }
    })()

    const reader = new FrameReader(readMaxBytes)
    const messages = (async function*() {
      const queue: Array<Uint8Array> = []
      let wake: (() => void) | undefined
      let done = false
      let error: unknown
      stream.on("data", (chunk: Buffer) => {
        try {
          queue.push(...reader.push(chunk))
        } catch (e) {
          error = e
          cancel(ConnectError.from(e))
        }
        wake?.()
      })
      end.then(() => (done = true), (e) => {
        error ??= e
        done = true
      }).finally(() => wake?.())
      while (true) {
        if (queue.length > 0) {
          yield queue.shift()!
          continue
        }
        if (error !== undefined) throw ConnectError.from(error)
        if (done) {
          if (reader.pending > 0) throw new ConnectError("the response ended inside a message", Code.Internal)
          return
        }
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
      }
    })()
    return { head, messages, end }
  }

  const transport: Transport = {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>
    ): Promise<UnaryResponse<I, O>> {
      const request = toBinary(method.input, create(method.input, input))
      const answer = await unaryCall(`/${method.parent.typeName}/${method.name}`, signal, timeoutMs, header, request)
      return unaryResponse(method, answer)
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>
    ): Promise<StreamResponse<I, O>> {
      const requests = (async function*() {
        for await (const message of input) yield toBinary(method.input, create(method.input, message))
      })()
      const call = exchange(`/${method.parent.typeName}/${method.name}`, signal, timeoutMs, header, requests)
      const { status, header: responseHeader } = await call.head
      const { foundStatus, headerError } = validateResponse(status, responseHeader)
      if (headerError !== undefined) throw headerError
      const trailer = new Headers()
      const message = (async function*() {
        for await (const received of call.messages) yield decode(method.output, received)
        const ended = foundStatus ? responseHeader : await call.end
        ended.forEach((value, key) => trailer.set(key, value))
        validateTrailer(trailer, responseHeader)
      })()
      return { stream: true, service: method.parent, method, header: responseHeader, message, trailer }
    }
  }

  const state = () =>
    session === undefined || session.destroyed || session.closed ? "closed" as const : session.connecting ? "connecting" as const : "open" as const

  // One wait per session being dialled, shared by every caller that asks meanwhile: a burst of
  // calls on a new client (16 callers at once, say) adds two listeners to the session, not two
  // per caller (past ten, node warns of a listener leak on the application's stderr).
  let dialling: { readonly session: http2.ClientHttp2Session; readonly result: Promise<"open" | "error"> } | undefined
  const connectNow = (): Promise<"open" | "error"> => {
    let s: http2.ClientHttp2Session
    try {
      s = connect()
    } catch (error) {
      lastError = error
      return Promise.resolve("error")
    }
    if (!s.connecting) return Promise.resolve("open")
    if (dialling?.session === s) return dialling.result
    const result = new Promise<"open" | "error">((resolve) => {
      const done = (outcome: "open" | "error") => {
        s.off("connect", onConnect)
        s.off("close", onClose)
        if (dialling?.session === s) dialling = undefined
        resolve(outcome)
      }
      const onConnect = () => done("open")
      const onClose = () => done("error")
      s.once("connect", onConnect)
      s.once("close", onClose)
    })
    dialling = { session: s, result }
    return result
  }

  return {
    transport,
    close: () => {
      closed = true
      if (session !== undefined) drop(session)
    },
    state,
    connect: connectNow,
    error: () => lastError
  }
}

