/**
 * The node's HTTP API for its chains: each chain's VM handlers (from `CreateHandlers`) at
 * `/ext/bc/<chain ID><prefix>` and `/ext/bc/<chain name><prefix>`, exact paths as upstream
 * mounts them, proxied over gRPC ({@link HandlerProxy}).
 *
 * A chain is registered for its whole life and mounted for each run of its VM: between runs
 * (not yet in normal operation, or relaunching after a crash) its routes answer 503, as the
 * Go nodes answer a chain that is not done bootstrapping. Every response carries the
 * `node-id` header.
 *
 * The gateway is a Node request handler (`handle`) for the HTTP server the embedding node
 * owns; `layerListen` also runs one.
 */
import { Context, Effect, Layer, Schema, type Scope } from "effect"
import type * as http from "node:http"
import { Handshake } from "@vmre/runtime"
import { HttpListener } from "@vmre/transport"
import { Ids, HttpWire } from "@vmre/wire"
import { NodeConfig, formatNodeId, devNodeId } from "../NodeConfig.ts"
import * as NodeFlavour from "../NodeFlavour.ts"
import * as HandlerProxy from "./HandlerProxy.ts"

export interface GatewayOptions extends Omit<HandlerProxy.ProxyOptions, "flavour"> {}

export interface ListenOptions extends GatewayOptions {
  readonly host?: string | undefined
  /** 0 (default) picks a free port. */
  readonly port?: number | undefined
}

/** The HTTP server of `layerListen` could not listen. */
export class GatewayListenError extends Schema.TaggedError<GatewayListenError>()("GatewayListenError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `cannot serve HTTP on ${this.host}:${this.port}: ${this.reason} (choose another --http address, or port 0 for any free port)`
  }
}

/** One handler as `CreateHandlers` names it. */
export interface VmHandler {
  readonly prefix: string
  readonly serverAddr: string
}

export interface RegisteredChain {
  /**
   * Mounts this run's handlers until the scope closes (503 again after); the paths mounted.
   * `headerRouted` (avalanchego's NewHTTPHandler) answers any path whose request has the
   * header `Avalanche-Api-Route: <chain ID>` (avalanchego flavour).
   */
  readonly mount: (
    handlers: ReadonlyArray<VmHandler>,
    headerRouted?: string | undefined
  ) => Effect.Effect<ReadonlyArray<string>, never, Scope.Scope>
}

interface Route {
  handlers: Map<string, HandlerProxy.Proxy> | undefined
  headerRouted: HandlerProxy.Proxy | undefined
}

/** avalanchego routes a request with this header to the chain it names, whatever the path. */
export const ROUTE_HEADER = "avalanche-api-route"

const NOT_BOOTSTRAPPED = "API call rejected because chain is not done bootstrapping"

/** A prefix a route can have: empty, or a path of visible characters starting with `/`. */
const validPrefix = (prefix: string) => prefix === "" || /^\/[!-~]*$/.test(prefix)

export class HttpGateway extends Context.Service<HttpGateway, {
  /** The request handler to mount on the node's HTTP server (it answers every path; 404 outside the chains'). */
  readonly handle: (req: http.IncomingMessage, res: http.ServerResponse) => void
  /** `http://host:port` when the gateway runs its own server (`layerListen`). */
  readonly url: string | undefined
  /** Registers a chain's routes by its ID and name until the scope closes. */
  readonly register: (chain: { readonly chainId: Ids.Id; readonly name?: string | undefined }) => Effect.Effect<RegisteredChain, never, Scope.Scope>
}>()("@vmre/node/HttpGateway") {
  /** A gateway for the node's own HTTP server (flavour and node id from `NodeConfig` when provided). */
  static readonly layer = (options: GatewayOptions = {}): Layer.Layer<HttpGateway> =>
    Layer.effect(HttpGateway, Effect.map(make(options), (gateway) => ({ ...gateway, url: undefined })))

  /** The same, serving on `host:port` (default 127.0.0.1, any free port) until the layer is released. */
  static readonly layerListen = (options: ListenOptions = {}): Layer.Layer<HttpGateway, GatewayListenError> =>
    Layer.effect(
      HttpGateway,
      Effect.gen(function*() {
        const gateway = yield* make(options)
        const address = { host: options.host ?? "127.0.0.1", port: options.port ?? 0 }
        const { url } = yield* HttpListener.listen(gateway.handle, address).pipe(
          Effect.mapError((reason) => new GatewayListenError({ ...address, reason }))
        )
        return { ...gateway, url }
      })
    )
}

const make = (options: GatewayOptions) =>
  Effect.gen(function*() {
    const config = yield* Effect.serviceOption(NodeConfig)
    const flavour = config._tag === "Some" ? config.value.flavour : NodeFlavour.DEFAULT
    const nodeId = formatNodeId(config._tag === "Some" ? config.value.nodeId : devNodeId)
    const routes = new Map<string, Route>()
    const byHeader = new Map<string, Route>()

    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.setHeader("node-id", nodeId)
      const header = flavour === "avalanchego" ? req.headers[ROUTE_HEADER] : undefined
      const routeHeader = Array.isArray(header) ? header[0] ?? "" : header
      if (routeHeader !== undefined) {
        const chain = routeHeader === "" ? undefined : byHeader.get(routeHeader)
        const proxy = chain?.headerRouted
        if (proxy === undefined) {
          res.writeHead(routeHeader === "" ? 400 : chain !== undefined && chain.handlers === undefined ? 503 : 404)
          return void res.end()
        }
        return void proxy(req, res).catch(() => res.destroy())
      }
      const path = (req.url ?? "/").split("?")[0]!
      const notFound = () => {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" })
        res.end("404 page not found\n")
      }
      if (!path.startsWith(HttpWire.CHAIN_ROUTE_PREFIX)) return notFound()
      const rest = path.slice(HttpWire.CHAIN_ROUTE_PREFIX.length)
      const slash = rest.indexOf("/")
      const route = routes.get(slash === -1 ? rest : rest.slice(0, slash))
      if (route === undefined) return notFound()
      if (route.handlers === undefined) {
        res.writeHead(503, flavour === "avalanchego" ? { "content-type": "text/plain; charset=utf-8" } : {})
        return void res.end(flavour === "avalanchego" ? `${NOT_BOOTSTRAPPED}\n` : undefined)
      }
      const proxy = route.handlers.get(slash === -1 ? "" : rest.slice(slash))
      if (proxy === undefined) return notFound()
      proxy(req, res).catch(() => res.destroy())
    }

    const register = (chain: { readonly chainId: Ids.Id; readonly name?: string | undefined }) =>
      Effect.gen(function*() {
        const route: Route = { handlers: undefined, headerRouted: undefined }
        const idText = Ids.toString(chain.chainId)
        const keys = [...new Set([idText, ...(chain.name === undefined ? [] : [chain.name])])]
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            keys.forEach((key) => routes.set(key, route))
            byHeader.set(idText, route)
          }),
          () =>
            Effect.sync(() => {
              keys.forEach((key) => routes.get(key) === route && routes.delete(key))
              if (byHeader.get(idText) === route) byHeader.delete(idText)
            })
        )
        return {
          mount: (handlers, headerRouted) =>
            Effect.gen(function*() {
              const proxies = new Map<string, HandlerProxy.Proxy>()
              for (const handler of handlers) {
                if (!validPrefix(handler.prefix)) {
                  yield* Effect.logWarning(`could not add route to chain's API handler: invalid prefix ${JSON.stringify(handler.prefix)}`)
                  continue
                }
                // As the VM's own address: loopback only, or a VM could point the node at another machine.
                const refused = Handshake.validateVmAddress(handler.serverAddr)
                if (refused !== undefined) {
                  yield* Effect.logWarning(`could not add route to chain's API handler ${JSON.stringify(handler.prefix)}: its address ${JSON.stringify(handler.serverAddr)} is refused: ${refused}`)
                  continue
                }
                proxies.set(handler.prefix, yield* HandlerProxy.make(handler.serverAddr, { ...options, flavour }))
              }
              let header: HandlerProxy.Proxy | undefined
              if (headerRouted !== undefined && headerRouted !== "" && flavour === "avalanchego") {
                const refused = Handshake.validateVmAddress(headerRouted)
                if (refused === undefined) header = yield* HandlerProxy.make(headerRouted, { ...options, flavour })
                else yield* Effect.logWarning(`no header-routed API handler: its address ${JSON.stringify(headerRouted)} is refused: ${refused}`)
              }
              yield* Effect.acquireRelease(
                Effect.sync(() => {
                  route.handlers = proxies
                  route.headerRouted = header
                }),
                () =>
                  Effect.sync(() => {
                    route.handlers = undefined
                    route.headerRouted = undefined
                  })
              )
              return keys.flatMap((key) => [...proxies.keys()].map((prefix) => `${HttpWire.CHAIN_ROUTE_PREFIX}${key}${prefix}`))
            })
        } satisfies RegisteredChain
      })

    return { handle, register }
  })
