/**
 * The server half of vmre's gRPC engine: Connect service implementations (the same
 * `router.service(desc, impl)` registrations, handlers and `HandlerContext`) served straight from
 * node:http2 streams, without Connect's universal request/response machinery, which the bench
 * profiles as most of a call's server CPU.
 *
 * gRPC over h2c as grpc-go serves it: POST with `application/grpc[+proto]` (415 otherwise, 405
 * for another method); length-prefixed messages; `grpc-timeout` (the handler's signal aborts at
 * the deadline and the call ends DeadlineExceeded); the client's RST_STREAM aborts the handler;
 * errors as trailers-only responses when nothing was sent, with `grpc-status-details-bin`
 * (written by Connect's own `setTrailerStatus`); unknown services and methods UNIMPLEMENTED;
 * a received-message limit (ResourceExhausted); unary and streaming methods. No compression
 * (a compressed request is refused, UNIMPLEMENTED, as the Go nodes send none).
 */
import { create, type DescMessage, type DescMethod, type DescService, isMessage, toBinary } from "@bufbuild/protobuf"
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect"
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc"
import * as http2 from "node:http2"
import { decode, encodeGrpcMessage, FrameReader, unimplementedMessage, writeMessage } from "./GrpcFrames.ts"
import * as CallContext from "./H2CallContext.ts"

interface Route {
  readonly service: DescService
  readonly method: DescMethod
  readonly impl: (...args: Array<unknown>) => unknown
}

/** The services a routes function registers, collected for the engine (it never serves HTTP itself). */
export const collect = (routes: (router: ConnectRouter) => void): Map<string, Route> => {
  const found = new Map<string, Route>()
  const router = {
    handlers: [] as Array<{ service: DescService }>,
    service(service: DescService, impl: Partial<ServiceImpl<DescService>>) {
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName]
        if (typeof fn === "function") found.set(`/${service.typeName}/${method.name}`, { service, method, impl: fn.bind(impl) as Route["impl"] })
      }
      router.handlers.push({ service })
      return router
    },
    rpc() {
      throw new Error("the h2 engine serves services registered with router.service")
    }
  }
  routes(router as unknown as ConnectRouter)
  return found
}

const trailerHeaders = (error: ConnectError | undefined, extra?: Headers): http2.OutgoingHttpHeaders => {
  const out: http2.OutgoingHttpHeaders = {}
  extra?.forEach((value, key) => (out[key] = value))
  if (error === undefined) {
    out["grpc-status"] = "0"
    return out
  }
  setTrailerStatus(new Headers(), error).forEach((value, key) => (out[key] = value))
  // grpc-message as grpc-go writes it (Connect's encoding escapes more than gRPC asks).
  out["grpc-message"] = encodeGrpcMessage(error.rawMessage)
  return out
}

export interface HandlerOptions {
  /** Largest request message accepted (default 4 GiB - 1). */
  readonly readMaxBytes?: number | undefined
}

/** A `stream` listener for an http2 server that serves `routes`. */
export const make = (routes: Map<string, Route>, options: HandlerOptions = {}) => {
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff
  const services = new Set([...routes.values()].map((r) => r.service.typeName))

  return (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    stream.on("error", () => {})
    const path = headers[":path"] ?? ""
    const fail = (error: ConnectError) => {
      if (stream.destroyed || stream.closed) return
      if (!stream.headersSent) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailerHeaders(error) }, { endStream: true })
      } else {
        try {
          stream.sendTrailers(trailerHeaders(error))
        } catch {
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
        }
      }
    }
    if (headers[":method"] !== "POST") {
      stream.respond({ ":status": 405, allow: "POST" }, { endStream: true })
      return void stream.resume()
    }
    if (!/^application\/grpc(\+proto)?(;|$)/.test(String(headers["content-type"] ?? ""))) {
      stream.respond({ ":status": 415, "accept-post": "application/grpc, application/grpc+proto" }, { endStream: true })
      return void stream.resume()
    }
    const route = routes.get(path)
    if (route === undefined) {
      stream.resume()
      return fail(new ConnectError(unimplementedMessage(path, services), Code.Unimplemented))
    }
    const encoding = headers["grpc-encoding"]
    if (encoding !== undefined && encoding !== "identity") {
      stream.resume()
      return fail(new ConnectError(`unsupported compression ${encoding}`, Code.Unimplemented))
    }
    const timeout = parseTimeout((headers["grpc-timeout"] as string | undefined) ?? null, 0xffffffff)
    if (timeout.error !== undefined) {
      stream.resume()
      return fail(timeout.error)
    }
    const call = new CallContext.H2CallContext(route.service, route.method, path, headers, timeout.timeoutMs)
    let finished = false
    // The client reset the stream (or went away): the handler's signal aborts.
    stream.once("close", () => {
      if (!finished) call.abort(new ConnectError("the client cancelled the call", Code.Canceled))
      call.done()
    })
    const responseHead = (): http2.OutgoingHttpHeaders => {
      const out: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc+proto" }
      call.responseHeaderSet()?.forEach((value, key) => (out[key] = value))
      return out
    }
    const failWith = (error: unknown) => {
      finished = true
      call.done()
      const e = ConnectError.from(error)
      e.metadata.forEach((value, key) => call.responseTrailer.set(key, value))
      if (stream.headersSent && !stream.destroyed) {
        stream.once("wantTrailers", () => stream.sendTrailers(trailerHeaders(e, call.responseTrailer)))
        stream.end()
      } else fail(e)
      stream.resume()
    }
    if (route.method.methodKind === "unary") return unary(stream, route, call, readMaxBytes, responseHead, failWith, () => (finished = true))

    const requests = readMessages(stream, route.method.input, readMaxBytes)
    const run = async () => {
      const kind = route.method.methodKind
      if (kind === "server_streaming") {
        let input: unknown
        for await (const message of requests) {
          if (input !== undefined) throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented)
          input = message
        }
        if (input === undefined) throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented)
        return route.impl(input, call) as AsyncIterable<unknown>
      }
      const answer = route.impl(requests, call)
      return kind === "client_streaming" ? [await answer] : answer as AsyncIterable<unknown>
    }
    // The deadline ends the call whatever the handler does.
    const deadline = new Promise<never>((_, reject) => {
      const onAbort = (reason: ConnectError) => reject(ConnectError.from(reason, Code.DeadlineExceeded))
      if (call.abortReason !== undefined) onAbort(call.abortReason)
      else call.onAbort = onAbort
    })
    deadline.catch(() => {})
    void Promise.race([run(), deadline]).then(async (answers) => {
      const output = route.method.output as DescMessage
      for await (const answer of answers as AsyncIterable<unknown>) {
        if (call.abortReason !== undefined) throw ConnectError.from(call.abortReason, Code.Canceled)
        const message = isMessage(answer, output) ? answer : create(output, answer as never)
        const bytes = toBinary(output, message)
        if (!stream.headersSent) stream.respond(responseHead(), { waitForTrailers: true })
        if (!writeMessage(stream, bytes, false)) await new Promise((resolve) => stream.once("drain", resolve))
      }
      finished = true
      call.done()
      if (stream.destroyed || stream.closed) return
      if (!stream.headersSent) {
        // No message (a stream of none): trailers-only with OK.
        stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...trailerHeaders(undefined, call.responseTrailerSet()) }, { endStream: true })
        return
      }
      stream.once("wantTrailers", () => stream.sendTrailers(trailerHeaders(undefined, call.responseTrailerSet())))
      stream.end()
    }).catch(failWith)
  }
}

/**
 * A unary call, read and answered from the stream's events: the one request message as it
 * arrives (a message over the limit is answered at once), the handler, its answer with the
 * trailers; the deadline or the client's reset ends it whatever the handler does.
 */
const unary = (
  stream: http2.ServerHttp2Stream,
  route: Route,
  call: CallContext.H2CallContext,
  readMaxBytes: number,
  responseHead: () => http2.OutgoingHttpHeaders,
  failWith: (error: unknown) => void,
  finish: () => void
): void => {
  const reader = new FrameReader(readMaxBytes)
  let input: Uint8Array | undefined
  let extra = false
  let over = false
  const end = (error: unknown) => {
    if (over) return
    over = true
    failWith(error)
  }
  const onData = (chunk: Buffer) => {
    try {
      for (const message of reader.push(chunk)) {
        if (input === undefined) input = message
        else extra = true
      }
    } catch (error) {
      stream.off("data", onData)
      end(error)
    }
  }
  stream.on("data", onData)
  const reply = (value: unknown) => {
    if (over) return
    const output = route.method.output
    let bytes: Uint8Array
    try {
      bytes = toBinary(output, isMessage(value, output) ? value : create(output, value as never))
    } catch (error) {
      return end(error)
    }
    over = true
    finish()
    call.done()
    if (stream.destroyed || stream.closed) return
    stream.respond(responseHead(), { waitForTrailers: true })
    stream.once("wantTrailers", () => stream.sendTrailers(trailerHeaders(undefined, call.responseTrailerSet())))
    writeMessage(stream, bytes, true)
  }
  stream.once("end", () => {
    if (over) return
    let answer: unknown
    try {
      if (reader.pending > 0) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument)
      if (extra) throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented)
      if (input === undefined) throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented)
      answer = route.impl(decode(route.method.input, input), call)
    } catch (error) {
      return end(error)
    }
    if (call.abortReason !== undefined) return end(ConnectError.from(call.abortReason, Code.DeadlineExceeded))
    // A handler that answered at once is answered at once (no promise, no microtask).
    if (!isThenable(answer)) return reply(answer)
    call.onAbort = (reason) => end(ConnectError.from(reason, Code.DeadlineExceeded))
    answer.then((value) => {
      call.onAbort = undefined
      reply(value)
    }, (error: unknown) => {
      call.onAbort = undefined
      end(error)
    })
  })
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && (typeof value === "object" || typeof value === "function") &&
  typeof (value as { readonly then?: unknown }).then === "function"

/**
 * The request's messages as they arrive, decoded; a message over `readMaxBytes` fails with
 * ResourceExhausted. Read from the stream's events, not its async iterator: leaving that
 * iterator early (a bad message) would destroy the stream before the error can be answered.
 */
const readMessages = (stream: http2.ServerHttp2Stream, input: DescMessage, readMaxBytes: number): AsyncIterable<unknown> => ({
  [Symbol.asyncIterator]: async function*() {
    const reader = new FrameReader(readMaxBytes)
    const queue: Array<Uint8Array> = []
    let ended = false
    let failure: unknown
    let wake: (() => void) | undefined
    const onData = (chunk: Buffer) => {
      try {
        queue.push(...reader.push(chunk))
      } catch (error) {
        failure ??= error
      }
      wake?.()
    }
    const onEnd = () => {
      ended = true
      wake?.()
    }
    stream.on("data", onData)
    stream.once("end", onEnd)
    stream.once("close", onEnd)
    try {
      while (true) {
        if (queue.length > 0) {
          yield decode(input, queue.shift()!)
          continue
        }
        if (failure !== undefined) throw failure
        if (ended) {
          if (reader.pending > 0) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument)
          return
        }
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
      }
    } finally {
      stream.off("data", onData)
      stream.off("end", onEnd)
      stream.off("close", onEnd)
      // The rest of the body is not wanted: reading it lets the client finish sending.
      stream.resume()
    }
  }
})
