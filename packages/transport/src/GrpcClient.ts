/**
 * Client transports to a gRPC peer on loopback, with the Go nodes' connection options.
 */
import type { Transport } from "@connectrpc/connect"
import { Duration, Effect, type Scope } from "effect"
import * as ConnectNode from "./ConnectNode.ts"
import * as GrpcEngine from "./GrpcEngine.ts"
import * as H2Transport from "./H2Transport.ts"

/** The connection under a transport, as a caller that waits for it to be ready sees it. */
export interface Connection {
  readonly state: () => string
  readonly connect: () => Promise<string>
  readonly error: () => unknown
}

export interface GrpcTransport {
  readonly transport: Transport
  readonly sessionManager: Connection
  /** Whether the scope that owns this transport has closed it. */
  readonly isClosed: () => boolean
}

/** HTTP/2 keepalive of the connection; the defaults are the Go nodes'. */
export interface KeepaliveOptions {
  /** PING every (default 30 s). */
  readonly interval?: Duration.Input | undefined
  /** A PING unanswered this long kills the connection (default 10 s). */
  readonly timeout?: Duration.Input | undefined
  /** Also PING connections without calls in flight (default true). */
  readonly idle?: boolean | undefined
}

export interface GrpcTransportOptions {
  /** Bound on establishing the HTTP/2 connection (default 5 s). */
  readonly connectTimeout?: Duration.Input | undefined
  readonly keepalive?: KeepaliveOptions | undefined
  /**
   * `"gzip"`: compress requests of 1 KiB or more and accept compressed answers. Default
   * `"identity"`: neither, as the Go nodes on this loopback path.
   */
  readonly compression?: "identity" | "gzip" | undefined
  /**
   * The engine under the Connect transport: `"h2"`, vmre's gRPC engine on bare node:http2
   * (`H2Transport`), or `"connect"`, Connect's own (the reference). Default from
   * `VMRE_GRPC_ENGINE` (`GrpcEngine`), else `"h2"`; gzip always uses Connect's.
   */
  readonly engine?: GrpcEngine.Kind | undefined
}

/**
 * A transport to `host:port` whose HTTP/2 session is aborted when the scope closes.
 * Keepalive as upstream by default: ping every 30 s, 10 s timeout, also on idle connections.
 */
export const transport = (
  address: string,
  options: GrpcTransportOptions = {}
): Effect.Effect<GrpcTransport, never, Scope.Scope> =>
  GrpcEngine.choose(options.engine, options.compression) === "h2" ? h2Transport(address, options) : connectTransport(address, options)

/** Connect's own transport (the reference engine; the only one that compresses). */
const connectTransport = (address: string, options: GrpcTransportOptions): Effect.Effect<GrpcTransport, never, Scope.Scope> =>
  Effect.flatMap(ConnectNode.load, ({ compressionGzip, createGrpcTransport, Http2SessionManager }) => Effect.acquireRelease(
    Effect.sync(() => {
      const baseUrl = `http://${address}`
      const sessionManager = new Http2SessionManager(baseUrl, {
        pingIntervalMs: Duration.toMillis(options.keepalive?.interval ?? Duration.seconds(30)),
        pingTimeoutMs: Duration.toMillis(options.keepalive?.timeout ?? Duration.seconds(10)),
        pingIdleConnection: options.keepalive?.idle ?? true,
        connectTimeoutMs: Duration.toMillis(options.connectTimeout ?? Duration.seconds(5))
      }, {
        // node's default (10 MB) refuses new streams (NGHTTP2_ENHANCE_YOUR_CALM) once ~10 MB of
        // requests are in flight, e.g. 16 concurrent 1 MiB blocks; message sizes are unlimited
        // on the Go side, so the session may hold as much as Connect's 4 GiB message cap.
        maxSessionMemory: 4096
      })
      const transport = createGrpcTransport({
        baseUrl,
        sessionManager,
        // Unlimited as on the Go side (Connect's ceiling is 4 GiB per message).
        readMaxBytes: 0xffffffff,
        writeMaxBytes: 0xffffffff,
        ...(options.compression === "gzip" ?
          { acceptCompression: [compressionGzip], sendCompression: compressionGzip } :
          { acceptCompression: [] })
      })
      let closed = false
      return { transport, sessionManager, isClosed: () => closed, close: () => (closed = true) }
    }),
    ({ close, sessionManager }) =>
      Effect.sync(() => {
        close()
        sessionManager.abort()
      })
  ).pipe(Effect.map(({ isClosed, sessionManager, transport }): GrpcTransport => ({ transport, sessionManager, isClosed }))))

/** The same over vmre's engine on bare node:http2. */
const h2Transport = (address: string, options: GrpcTransportOptions): Effect.Effect<GrpcTransport, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const engine = H2Transport.make(address, {
        keepaliveIntervalMillis: Duration.toMillis(Duration.fromInputUnsafe(options.keepalive?.interval ?? Duration.seconds(30))),
        keepaliveTimeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.keepalive?.timeout ?? Duration.seconds(10))),
        connectTimeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.connectTimeout ?? Duration.seconds(5)))
      })
      let closed = false
      return { engine, isClosed: () => closed, close: () => (closed = true) }
    }),
    ({ close, engine }) =>
      Effect.sync(() => {
        close()
        engine.close()
      })
  ).pipe(Effect.map(({ engine, isClosed }): GrpcTransport => ({ transport: engine.transport, sessionManager: engine, isClosed })))
