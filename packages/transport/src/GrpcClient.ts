/**
 * Client transports to a gRPC peer on loopback, with the Go nodes' connection options.
 */
import type { Transport } from "@connectrpc/connect"
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node"
import { Effect, type Scope } from "effect"

export interface GrpcTransport {
  readonly transport: Transport
  readonly sessionManager: Http2SessionManager
}

export interface GrpcTransportOptions {
  /** Bound on establishing the HTTP/2 connection. */
  readonly connectTimeoutMillis?: number
}

/**
 * A transport to `host:port` whose HTTP/2 session is aborted when the scope closes.
 * Keepalive as upstream: ping every 30 s, 10 s timeout, also on idle connections.
 */
export const transport = (
  address: string,
  options: GrpcTransportOptions = {}
): Effect.Effect<GrpcTransport, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const baseUrl = `http://${address}`
      const sessionManager = new Http2SessionManager(baseUrl, {
        pingIntervalMs: 30_000,
        pingTimeoutMs: 10_000,
        pingIdleConnection: true,
        connectTimeoutMs: options.connectTimeoutMillis ?? 5_000
      })
      const transport = createGrpcTransport({
        baseUrl,
        sessionManager,
        // Unlimited as on the Go side (Connect's ceiling is 4 GiB per message).
        readMaxBytes: 0xffffffff,
        writeMaxBytes: 0xffffffff
      })
      return { transport, sessionManager }
    }),
    ({ sessionManager }) => Effect.sync(() => sessionManager.abort())
  )
