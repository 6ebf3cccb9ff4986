/**
 * The `HandlerContext` a Connect service implementation gets from {@link H2Handler}: what
 * Connect's `createHandlerContext` makes, with its parts made when first used rather than on
 * every call (three Web `Headers`, a deadline timer and a second linked abort controller are
 * most of what a unary call costs the server otherwise).
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf"
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect"
import type * as http2 from "node:http2"
import { webHeaders } from "./GrpcFrames.ts"

const RAW_HEADERS = Symbol.for("@vmre/transport/H2CallContext/rawHeaders")

/** The request's header block as received, when the engine served the call (no Web `Headers` needed to read one value). */
export const rawHeaders = (context: HandlerContext): http2.IncomingHttpHeaders | undefined =>
  (context as { readonly [RAW_HEADERS]?: http2.IncomingHttpHeaders })[RAW_HEADERS]

export interface CallContext {
  readonly context: HandlerContext
  /** Aborts the handler's signal (the client went away, or the deadline passed); the first reason wins. */
  readonly abort: (reason: ConnectError) => void
  /** The response headers/trailers the handler set, without making them if it set none. */
  readonly responseHeaderSet: () => Headers | undefined
  readonly responseTrailerSet: () => Headers | undefined
  /** Stops the deadline timer. */
  readonly done: () => void
}

export const make = (
  service: DescService,
  method: DescMethod,
  url: string,
  headers: http2.IncomingHttpHeaders,
  timeoutMs: number | undefined
): CallContext => {
  const controller = new AbortController()
  const deadlineAt = timeoutMs === undefined ? undefined : Date.now() + timeoutMs
  const abort = (reason: ConnectError) => {
    if (!controller.signal.aborted) controller.abort(reason)
  }
  const timer = timeoutMs === undefined ? undefined :
    setTimeout(() => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs)
  let requestHeader: Headers | undefined
  let responseHeader: Headers | undefined
  let responseTrailer: Headers | undefined
  let values: ReturnType<typeof createContextValues> | undefined
  const context: HandlerContext & { readonly [RAW_HEADERS]: http2.IncomingHttpHeaders } = {
    [RAW_HEADERS]: headers,
    service,
    method,
    url,
    requestMethod: "POST",
    protocolName: "grpc",
    signal: controller.signal,
    timeoutMs: () => deadlineAt === undefined ? undefined : deadlineAt - Date.now(),
    get requestHeader() {
      return requestHeader ??= webHeaders(headers)
    },
    get responseHeader() {
      return responseHeader ??= new Headers()
    },
    get responseTrailer() {
      return responseTrailer ??= new Headers()
    },
    get values() {
      return values ??= createContextValues()
    }
  }
  return {
    context,
    abort,
    responseHeaderSet: () => responseHeader,
    responseTrailerSet: () => responseTrailer,
    done: () => {
      if (timer !== undefined) clearTimeout(timer)
    }
  }
}
