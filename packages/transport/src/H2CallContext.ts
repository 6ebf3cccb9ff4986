/**
 * The `HandlerContext` a Connect service implementation gets from {@link H2Handler}: what
 * Connect's `createHandlerContext` makes, as one object per call whose parts are made when
 * first used. Three Web `Headers`, an `AbortController`, a deadline timer and the closures of
 * an object literal were most of what a unary call cost the server otherwise; the abort signal
 * in particular is made only for a handler that reads it (the engine itself is told of an
 * abort through {@link H2CallContext.onAbort}).
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf"
import { Code, ConnectError, type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect"
import type * as http2 from "node:http2"
import { webHeaders } from "./GrpcFrames.ts"

const RAW_HEADERS = Symbol.for("@vmre/transport/H2CallContext/rawHeaders")

/** The request's header block as received, when the engine served the call (no Web `Headers` needed to read one value). */
export const rawHeaders = (context: HandlerContext): http2.IncomingHttpHeaders | undefined =>
  (context as { readonly [RAW_HEADERS]?: http2.IncomingHttpHeaders })[RAW_HEADERS]

const timedOut = () => new ConnectError("the operation timed out", Code.DeadlineExceeded)

export class H2CallContext implements HandlerContext {
  readonly requestMethod = "POST"
  readonly protocolName = "grpc"
  readonly service: DescService
  readonly method: DescMethod
  readonly url: string
  readonly [RAW_HEADERS]: http2.IncomingHttpHeaders
  /** The engine's own listener for an abort (one per call: no EventTarget bookkeeping). */
  onAbort: ((reason: ConnectError) => void) | undefined = undefined
  #reason: ConnectError | undefined = undefined
  #controller: AbortController | undefined = undefined
  #timer: ReturnType<typeof setTimeout> | undefined = undefined
  readonly #deadlineAt: number | undefined
  #requestHeader: Headers | undefined = undefined
  #responseHeader: Headers | undefined = undefined
  #responseTrailer: Headers | undefined = undefined
  #values: ContextValues | undefined = undefined

  constructor(service: DescService, method: DescMethod, url: string, headers: http2.IncomingHttpHeaders, timeoutMs: number | undefined) {
    this.service = service
    this.method = method
    this.url = url
    this[RAW_HEADERS] = headers
    if (timeoutMs === undefined) this.#deadlineAt = undefined
    else {
      this.#deadlineAt = Date.now() + timeoutMs
      this.#timer = setTimeout(() => this.abort(timedOut()), timeoutMs)
    }
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#reason !== undefined) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  timeoutMs(): number | undefined {
    return this.#deadlineAt === undefined ? undefined : this.#deadlineAt - Date.now()
  }

  get requestHeader(): Headers {
    return this.#requestHeader ??= webHeaders(this[RAW_HEADERS])
  }

  get responseHeader(): Headers {
    return this.#responseHeader ??= new Headers()
  }

  get responseTrailer(): Headers {
    return this.#responseTrailer ??= new Headers()
  }

  get values(): ContextValues {
    return this.#values ??= createContextValues()
  }

  /** Why the call was aborted, if it was. */
  get abortReason(): ConnectError | undefined {
    return this.#reason
  }

  /** Aborts the handler's signal (the client went away, or the deadline passed); the first reason wins. */
  abort(reason: ConnectError): void {
    if (this.#reason !== undefined) return
    this.#reason = reason
    this.#controller?.abort(reason)
    this.onAbort?.(reason)
  }

  /** The response headers/trailers the handler set, without making them if it set none. */
  responseHeaderSet(): Headers | undefined {
    return this.#responseHeader
  }

  responseTrailerSet(): Headers | undefined {
    return this.#responseTrailer
  }

  /** Stops the deadline timer. */
  done(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
  }
}
