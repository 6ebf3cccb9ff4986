/**
 * The VM's end of HTTP over gRPC: one `http.HTTP` server per handler, turning each call into a
 * Web `Request` for the handler and its `Response` back into the wire's answer.
 *
 * - `HandleSimple` (the nodes' default): whole bodies both ways. A 500 is answered, as Go VMs
 *   answer it, with a gRPC error (code 500, message = body) whose one detail is the response.
 * - `Handle` (streaming): the VM dials the node's per-request server; the request body comes
 *   from luxd's `Request.body` or avalanchego's `io.reader.Reader`, the response goes out
 *   through `http.responsewriter.Writer` chunk by chunk, so neither is held whole.
 */
import { type Code, ConnectError, createClient, type HandlerContext } from "@connectrpc/connect"
import { create } from "@bufbuild/protobuf"
import {
  HandleSimpleHTTPResponseSchema,
  HTTP,
  type HandleSimpleHTTPRequest,
  type HTTPRequest
} from "@vmre/proto/http/http_pb"
import { Writer } from "@vmre/proto/http/responsewriter/responsewriter_pb"
import { ErrorCode, Reader } from "@vmre/proto/io/reader/reader_pb"
import { GrpcClient, GrpcServer } from "@vmre/transport"
import { HttpWire } from "@vmre/wire"
import { Effect, type Scope } from "effect"
import type { WebHandler } from "../HttpHandlers.ts"

/** How much one `io.reader.Reader/Read` asks for. */
const READ_CHUNK = 64 * 1024

const withoutBody = (method: string) => method === "GET" || method === "HEAD"

/** An absolute URL for the request target: Go sends the raw target (`/ext/bc/…?q`), Web requests need a base. */
const absolute = (target: string, host: string | null) => {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return target
  return `http://${host === null || host === "" ? "localhost" : host}${target.startsWith("/") ? "" : "/"}${target}`
}

/** The handler's answer; a throw or a non-Response is a 500 saying what happened (the VM goes on). */
const invoke = async (handler: WebHandler, request: Request): Promise<Response> => {
  try {
    const response = await handler(request)
    if (response instanceof Response) return response
    return new Response("the VM's HTTP handler returned something that is not a Response", { status: 500 })
  } catch (error) {
    if (request.signal.aborted) throw ConnectError.from(error)
    return new Response(`internal error: ${error instanceof Error ? error.message : String(error)}`, { status: 500 })
  }
}

/** Preset response headers (sent by the node before the handler runs), overridden key by key by the handler's. */
const responseHeaders = (
  preset: ReadonlyArray<{ key: string; values: Array<string> }>,
  response: Response
) => {
  const own = HttpWire.fromHeaders(response.headers)
  const keys = new Set(own.map((e) => e.key))
  return [...preset.filter((e) => !keys.has(HttpWire.canonicalKey(e.key))), ...own]
}

const handleSimple = (handler: WebHandler) => async (wire: HandleSimpleHTTPRequest, context: HandlerContext) => {
  const method = wire.method === "" ? "GET" : wire.method.toUpperCase()
  const headers = HttpWire.toHeaders(wire.requestHeaders)
  let request: Request
  try {
    request = new Request(absolute(wire.url, headers.get("host")), {
      method,
      headers,
      ...(withoutBody(method) || wire.body.length === 0 ? {} : { body: wire.body }),
      signal: context.signal
    })
  } catch (error) {
    throw new ConnectError(`cannot make an HTTP request of it: ${error instanceof Error ? error.message : String(error)}`, 3)
  }
  const response = await invoke(handler, request)
  const body = new Uint8Array(await response.arrayBuffer())
  const answer = create(HandleSimpleHTTPResponseSchema, {
    code: response.status,
    headers: responseHeaders(wire.responseHeaders, response),
    body
  })
  if (response.status === HttpWire.SIMPLE_ERROR_CODE) {
    throw new ConnectError(new TextDecoder().decode(body), HttpWire.SIMPLE_ERROR_CODE as Code, undefined, [
      { desc: HandleSimpleHTTPResponseSchema, value: answer }
    ])
  }
  return answer
}

/** The request body: luxd's inline bytes, nothing, or avalanchego's reader pulled as the handler reads. */
const bodyOf = (wire: HTTPRequest, reader: ReturnType<typeof createClient<typeof Reader>>, signal: AbortSignal) => {
  const request = wire.request!
  if (request.body.length > 0) return request.body
  if (request.contentLength === 0n && request.transferEncoding.length === 0) return undefined
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        const answer = await reader.read({ length: READ_CHUNK }, { signal })
        if (answer.read.length > 0) controller.enqueue(answer.read)
        if (answer.error !== undefined) {
          if (answer.error.errorCode === ErrorCode.EOF) controller.close()
          else controller.error(new Error(`reading the request body: ${answer.error.message}`))
        }
      } catch (error) {
        // luxd serves no reader (its bodies come inline): no body.
        if (ConnectError.from(error).code === 12) controller.close()
        else controller.error(error)
      }
    }
  }, { highWaterMark: 0 })
}

const handle = (handler: WebHandler) => (wire: HTTPRequest, context: HandlerContext) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const source = wire.request
    if (source === undefined || wire.responseWriter === undefined) {
      return yield* Effect.fail(new ConnectError("request and response_writer are required", 3))
    }
    const { transport } = yield* GrpcClient.transport(wire.responseWriter.serverAddr)
    const writer = createClient(Writer, transport)
    const reader = createClient(Reader, transport)
    const method = source.method === "" ? "GET" : source.method.toUpperCase()
    const headers = HttpWire.toHeaders(source.header)
    const target = source.requestUri !== "" ? source.requestUri : `${source.url?.path ?? "/"}${source.url?.rawQuery ? `?${source.url.rawQuery}` : ""}`
    return yield* Effect.tryPromise({
      try: async () => {
        const body = withoutBody(method) ? undefined : bodyOf(wire, reader, context.signal)
        const request = new Request(absolute(target, source.host || headers.get("host")), {
          method,
          headers,
          signal: context.signal,
          ...(body === undefined ? {} : { body, duplex: "half" } as RequestInit)
        })
        const response = await invoke(handler, request)
        const out = responseHeaders(wire.responseWriter!.header, response)
        await writer.writeHeader({ headers: out, statusCode: response.status }, { signal: context.signal })
        if (response.body !== null) {
          for await (const chunk of response.body) {
            if (chunk.length > 0) await writer.write({ headers: out, payload: chunk }, { signal: context.signal })
          }
        }
        return { header: out }
      },
      catch: (error) => ConnectError.from(error)
    })
  })))

/** Serves `handler` over `http.HTTP` on 127.0.0.1 until the scope closes; its `host:port`. */
export const serveHandler = (handler: WebHandler): Effect.Effect<string, GrpcServer.ServerListenError, Scope.Scope> =>
  Effect.map(
    GrpcServer.serve((router) => router.service(HTTP, { handle: handle(handler), handleSimple: handleSimple(handler) })),
    (server) => server.address
  )
