/**
 * A VM's HTTP API: handlers the VM returns from `createHandlers`, each served by the SDK on a
 * gRPC `http.HTTP` server of its own, which the node reaches at
 * `/ext/bc/<chain ID><prefix>` and proxies to (vmre's host and the Go nodes alike).
 *
 * One shape underneath, the Web `Request → Response` handler; effect `HttpEffect` apps and
 * Node `(req, res)` handlers are converted to it by their maintained converters
 * (`HttpEffect.toWebHandler`, `fetch-to-node`). An `HttpRouter` app becomes one with
 * `HttpRouter.toWebHandler(layer).handler`.
 *
 * The request the handler sees has the node's full path (`/ext/bc/…`), the client's headers,
 * and a `signal` aborted when the client goes away.
 */
import type { Effect, Scope } from "effect"
import { HttpEffect, type HttpServerRequest, type HttpServerResponse } from "effect/http"
import { toFetchResponse, toReqRes } from "fetch-to-node"
import type { IncomingMessage, ServerResponse } from "node:http"

/** A Web (fetch API) handler. */
export type WebHandler = (request: Request) => Response | Promise<Response>

/** A handler the SDK serves over gRPC. */
export interface ServedHandler {
  /** Appended to `/ext/bc/<chain ID>`; empty for the chain's root. */
  readonly prefix: string
  readonly fetch: WebHandler
}

/** A handler the VM serves on a gRPC `http.HTTP` server it runs itself (its `host:port`). */
export interface OwnServerHandler {
  readonly prefix: string
  readonly serverAddr: string
}

/** What `createHandlers` returns, one per prefix. */
export type HttpHandler = ServedHandler | OwnServerHandler

/** A Web handler at `prefix`. */
export const web = (prefix: string, fetch: WebHandler): ServedHandler => ({ prefix, fetch })

/**
 * A Node `(req, res)` handler at `prefix` (Express and the like). Its response is buffered
 * until `res.end()`; write a Web or effect handler to stream a response.
 */
export const node = (
  prefix: string,
  handler: (req: IncomingMessage, res: ServerResponse) => unknown
): ServedHandler =>
  web(prefix, async (request) => {
    const { req, res } = toReqRes(request)
    const finished = toFetchResponse(res)
    await handler(req, res)
    return finished
  })

/** An effect HTTP app (an `HttpServerResponse` effect reading `HttpServerRequest`) at `prefix`. */
export const httpEffect = <E>(
  prefix: string,
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest | Scope.Scope>
): ServedHandler => web(prefix, HttpEffect.toWebHandler(app))

export const isServed = (handler: HttpHandler): handler is ServedHandler => "fetch" in handler
