/**
 * The node's end of one VM handler: a client of the VM's `http.HTTP` server that answers Node
 * HTTP requests with it, as the Go nodes' handler client does.
 *
 * - By default `HandleSimple`, whole bodies both ways (a request body is capped by
 *   `maxBodyBytes`: 413 past it).
 * - `Handle` (streamed both ways, through a per-request {@link RequestServer}) for upgrade
 *   requests, as upstream; with avalanchego also for a request body of unknown length
 *   (chunked); for every request with `stream: "always"`.
 * - The client going away aborts the call (the VM's handler sees its request's signal abort);
 *   a VM that does not answer within `timeout` gets 504.
 */
import { ConnectError, createClient } from "@connectrpc/connect"
import { HandleSimpleHTTPResponseSchema, HTTP } from "@vmre/proto/http/http_pb"
import { GrpcClient } from "@vmre/transport"
import { HttpWire } from "@vmre/wire"
import { Duration, Effect, Exit, Scope } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { NodeFlavour } from "../NodeFlavour.ts"
import * as RequestServer from "./RequestServer.ts"

export interface ProxyOptions {
  readonly flavour: NodeFlavour
  /** "auto" (default): as upstream; "always": every request through the streamed `Handle`. */
  readonly stream?: "auto" | "always" | undefined
  /** Largest request body taken whole (HandleSimple; luxd's inline body). Default 64 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** How long the VM has to answer a request (the whole answer for HandleSimple). Default 30 s. */
  readonly timeout?: Duration.Input | undefined
}

export type Proxy = (req: IncomingMessage, res: ServerResponse) => Promise<void>

class BodyTooLarge extends Error {}

const collect = (req: IncomingMessage, max: number) =>
  new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > max) {
        req.removeAllListeners("data")
        req.resume()
        reject(new BodyTooLarge())
      } else chunks.push(chunk)
    })
    req.once("end", () => resolve(Buffer.concat(chunks)))
    req.once("error", reject)
    req.once("close", () => reject(new Error("the client went away")))
  })

const plain = (res: ServerResponse, status: number, text: string) => {
  if (res.headersSent || res.destroyed) return void res.destroy()
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" })
  res.end(`${text}\n`)
}

const responseHeaderElements = (res: ServerResponse) =>
  res.getHeaderNames().map((name) => {
    const value = res.getHeader(name)
    return { key: HttpWire.canonicalKey(name), values: Array.isArray(value) ? value.map(String) : [String(value)] }
  })

/** Whether this request goes through the streamed `Handle`. */
export const streams = (req: IncomingMessage, options: ProxyOptions): boolean => {
  if (options.stream === "always" || req.httpVersionMajor === 2) return true
  if ((req.headers.upgrade ?? "") !== "") return true
  return options.flavour === "avalanchego" && req.headers["content-length"] === undefined &&
    (req.headers["transfer-encoding"] ?? "") !== ""
}

/** A proxy to the handler served at `serverAddr`, for as long as the scope is open. */
export const make = (
  serverAddr: string,
  options: ProxyOptions
): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { transport } = yield* GrpcClient.transport(serverAddr)
    const client = createClient(HTTP, transport)
    const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024
    const timeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(30)))

    /** An abort signal for the call: the client went away, or the VM took too long. */
    const callSignal = (res: ServerResponse) => {
      const controller = new AbortController()
      const onClose = () => {
        if (!res.writableFinished) controller.abort(new Error("the client went away"))
      }
      res.once("close", onClose)
      const timer = setTimeout(() => controller.abort(new Error("timeout")), timeoutMillis)
      const done = () => {
        clearTimeout(timer)
        res.off("close", onClose)
      }
      return { signal: controller.signal, timedOut: () => controller.signal.reason?.message === "timeout", done }
    }

    const simple = async (req: IncomingMessage, res: ServerResponse) => {
      let body: Uint8Array
      try {
        body = await collect(req, maxBodyBytes)
      } catch (error) {
        if (error instanceof BodyTooLarge) return plain(res, 413, `request body larger than ${maxBodyBytes} bytes`)
        return void res.destroy()
      }
      const call = callSignal(res)
      try {
        const answer = await client.handleSimple({
          method: req.method ?? "GET",
          url: req.url ?? "/",
          requestHeaders: HttpWire.fromDistinct(req.headersDistinct),
          body,
          ...(options.flavour === "avalanchego" ? { responseHeaders: responseHeaderElements(res) } : {})
        }, { signal: call.signal }).catch((error: unknown) => {
          // A VM's 500 carries the response as the error's one detail.
          const [detail] = ConnectError.from(error).findDetails(HandleSimpleHTTPResponseSchema)
          if (detail !== undefined) return detail
          throw error
        })
        if (res.destroyed) return
        RequestServer.replaceHeaders(res, answer.headers)
        res.writeHead(HttpWire.validStatus(answer.code))
        res.end(answer.body)
      } catch (error) {
        if (call.timedOut()) return plain(res, 504, `the VM did not answer within ${timeoutMillis} ms`)
        if (res.destroyed) return
        plain(res, 500, ConnectError.from(error).rawMessage)
      } finally {
        call.done()
      }
    }

    const streamed = async (req: IncomingMessage, res: ServerResponse) => {
      const scope = Scope.makeUnsafe()
      const call = callSignal(res)
      try {
        // luxd takes the body inline and serves no reader.
        const inline = options.flavour === "luxd" ? await collect(req, maxBodyBytes) : undefined
        const writerAddr = await Effect.runPromise(Scope.provide(scope)(RequestServer.serve(req, res, options.flavour)))
        const url = new URL(req.url ?? "/", "http://localhost")
        const contentLength = req.headers["content-length"] === undefined ? -1n : BigInt(req.headers["content-length"])
        const answer = await client.handle({
          responseWriter: { header: responseHeaderElements(res), serverAddr: writerAddr },
          request: {
            method: req.method ?? "GET",
            url: { path: decodeURIComponent(url.pathname), rawPath: url.pathname, rawQuery: url.search.slice(1) },
            proto: `HTTP/${req.httpVersion}`,
            protoMajor: req.httpVersionMajor,
            protoMinor: req.httpVersionMinor,
            header: HttpWire.fromDistinct(req.headersDistinct),
            ...(inline === undefined ? {} : { body: inline }),
            contentLength: inline === undefined ? contentLength : BigInt(inline.length),
            transferEncoding: req.headers["transfer-encoding"] === undefined ? [] : [req.headers["transfer-encoding"]],
            host: req.headers.host ?? "",
            remoteAddr: `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? 0}`,
            requestUri: req.url ?? "/"
          }
        }, { signal: call.signal })
        if (!res.headersSent && !res.destroyed) {
          RequestServer.replaceHeaders(res, answer.header)
          res.writeHead(200)
        }
        res.end()
      } catch (error) {
        if (error instanceof BodyTooLarge) plain(res, 413, `request body larger than ${maxBodyBytes} bytes`)
        else if (call.timedOut()) plain(res, 504, `the VM did not answer within ${timeoutMillis} ms`)
        else if (!res.destroyed) plain(res, 500, ConnectError.from(error).rawMessage)
      } finally {
        call.done()
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    }

    return (req, res) => (streams(req, options) ? streamed(req, res) : simple(req, res))
  })
