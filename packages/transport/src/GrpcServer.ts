/**
 * A gRPC server over cleartext HTTP/2 on loopback, as a scoped resource.
 *
 * Every server of vmre (the runtime handshake server, a plugin's VM server, the host's
 * rpcdb server) is one of these: Connect handlers on a `node:http2` server bound to
 * `127.0.0.1:0`, closed when the scope closes without waiting on idle client sessions.
 */
import type { ConnectRouter } from "@connectrpc/connect"
import type { connectNodeAdapter } from "@connectrpc/connect-node"
import { Duration, Effect, Schema, type Scope } from "effect"
import * as http2 from "node:http2"
import { encodeGrpcMessage, unimplementedMessage } from "./GrpcFrames.ts"
import * as ConnectNode from "./ConnectNode.ts"
import * as GrpcEngine from "./GrpcEngine.ts"
import * as H2Handler from "./H2Handler.ts"
import * as ListenAddress from "./ListenAddress.ts"
import type * as net from "node:net"

export class ServerListenError extends Schema.TaggedError<ServerListenError>()("ServerListenError", {
  host: Schema.String,
  reason: Schema.String,
  port: Schema.optional(Schema.Int)
}) {
  override get message() {
    return `cannot listen on ${this.host}:${this.port ?? 0}: ${this.reason}`
  }
}

export interface GrpcServer {
  /** `127.0.0.1:PORT`, the form the rpcchainvm protocol passes around. */
  readonly address: string
  readonly port: number
}

export interface GrpcServerOptions {
  readonly host?: string
  /** A fixed port (e.g. attach mode's engine address); default 0, any free port. */
  readonly port?: number
  /** How long a graceful close may wait for in-flight calls before sessions are destroyed. */
  readonly closeGrace?: Duration.Input
  /**
   * A connection that has not sent its HTTP/2 preface and SETTINGS within this time is closed
   * (default 10 s), so that silent peers cannot hold file descriptors forever.
   */
  readonly prefaceTimeout?: Duration.Input
  /**
   * `"gzip"`: compress answers of 1 KiB or more for clients that accept it, and accept gzip
   * requests. Default `"identity"`: never, as the Go nodes on this loopback path; compression
   * there only costs CPU.
   */
  readonly compression?: "identity" | "gzip"
  /**
   * The engine that serves the routes: `"h2"`, vmre's engine on bare node:http2 (`H2Handler`),
   * or `"connect"`, Connect's node adapter (the reference). Default from `VMRE_GRPC_ENGINE`
   * (`GrpcEngine`), else `"h2"`; gzip always uses Connect's.
   */
  readonly engine?: GrpcEngine.Kind | undefined
}

export { encodeGrpcMessage } from "./GrpcFrames.ts"

/**
 * What gRPC servers (grpc-go, C-core) answer for a service or method they do not serve:
 * HTTP 200, trailers-only, `grpc-status: 12` (UNIMPLEMENTED) naming what is missing. A node
 * probing an optional method relies on it; a bare HTTP 404 is not a gRPC status.
 */
type NodeHandlerFn = NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>

const unimplemented = (services: ReadonlySet<string>): NodeHandlerFn => (request, response) => {
  const message = unimplementedMessage((request.url ?? "").split("?")[0] ?? "", services)
  // Trailers-only: one HEADERS frame that ends the stream. Headers followed by an empty DATA
  // frame would be initial metadata without trailers to C-core and grpc-go ("Stream removed").
  const headers = {
    "content-type": "application/grpc",
    "grpc-status": "12",
    "grpc-message": encodeGrpcMessage(message)
  }
  const stream = "stream" in response ? (response.stream as http2.ServerHttp2Stream) : undefined
  if (stream === undefined) {
    response.writeHead(200, headers)
    response.end()
  } else if (!stream.headersSent && !stream.destroyed) {
    stream.respond({ ":status": 200, ...headers }, { endStream: true })
  }
  // The request body is not wanted; reading it lets the client finish sending.
  request.resume()
}

// The Go side runs with unlimited message sizes and stream counts; so do we.
const http2Settings: http2.Settings = { maxConcurrentStreams: 0xffffffff, maxHeaderListSize: 64 * 1024 }

export const serve = (
  routes: (router: ConnectRouter) => void,
  options: GrpcServerOptions = {}
): Effect.Effect<GrpcServer, ServerListenError, Scope.Scope> => {
  const host = options.host ?? "127.0.0.1"
  const closeGraceMillis = Duration.toMillis(options.closeGrace ?? Duration.seconds(1))
  const prefaceTimeoutMillis = Duration.toMillis(options.prefaceTimeout ?? Duration.seconds(10))
  const engine = GrpcEngine.choose(options.engine, options.compression)
  // Connect's adapter only for Connect's engine (see ConnectNode).
  return Effect.flatMap(engine === "h2" ? Effect.succeed(undefined) : ConnectNode.load, (connectNode) => Effect.acquireRelease(
    Effect.callback<
      { server: http2.Http2Server; sessions: Set<http2.ServerHttp2Session>; sockets: Set<net.Socket>; port: number },
      ServerListenError
    >(
      (resume) => {
        const sessions = new Set<http2.ServerHttp2Session>()
        // The raw connections too: a peer that connects and sends nothing has no usable session,
        // and ending one (FIN) leaves it half-open for as long as the peer likes.
        const sockets = new Set<net.Socket>()
        const services = new Set<string>()
        const serverOptions: http2.ServerOptions = {
          settings: http2Settings,
          // Go clients ping idle connections every 30 s; node's http2 answers pings itself and
          // has no too_many_pings policy, so nothing to configure beyond not limiting them.
          maxSessionInvalidFrames: 1_000,
          unknownProtocolTimeout: 5_000
        }
        const server = connectNode === undefined ?
          http2.createServer(serverOptions).on("stream", H2Handler.make(H2Handler.collect(routes))) :
          http2.createServer(
            serverOptions,
            connectNode.connectNodeAdapter({
              routes: (router) => {
                routes(router)
                for (const handler of router.handlers) services.add(handler.service.typeName)
              },
              fallback: unimplemented(services),
              acceptCompression: options.compression === "gzip" ? [connectNode.compressionGzip] : []
            })
          )
        server.on("connection", (socket: net.Socket) => {
          sockets.add(socket)
          const silent = setTimeout(() => {
            if (socket.bytesRead === 0) socket.destroy()
          }, prefaceTimeoutMillis)
          silent.unref()
          socket.once("close", () => {
            clearTimeout(silent)
            sockets.delete(socket)
          })
        })
        server.on("session", (session) => {
          sessions.add(session)
          const silent = setTimeout(() => {
            session.destroy()
            session.socket?.destroy()
          }, prefaceTimeoutMillis)
          silent.unref()
          session.once("remoteSettings", () => clearTimeout(silent))
          session.once("close", () => {
            clearTimeout(silent)
            sessions.delete(session)
          })
          // A peer that sends garbage must not take the host down.
          session.on("error", () => session.destroy())
        })
        server.on("sessionError", () => {})
        const onError = (error: Error) =>
          resume(Effect.fail(new ServerListenError({ host, reason: error.message, ...(options.port ? { port: options.port } : {}) })))
        server.once("error", onError)
        ListenAddress.listen(server, options.port ?? 0, host, () => {
          server.off("error", onError)
          server.on("error", () => {})
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resume(Effect.succeed({ server, sessions, sockets, port }))
        })
      }
    ),
    ({ server, sessions, sockets }) =>
      Effect.callback<void>((resume) => {
        // http2's server.close() waits for every open connection, and a client keeps its session
        // open while idle: ask each session to finish, drop connections that never said a word
        // at once, then destroy whatever is left after the grace, socket and all.
        const timer = setTimeout(() => {
          for (const session of sessions) session.destroy()
          for (const socket of sockets) socket.destroy()
        }, closeGraceMillis)
        server.close(() => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy()
        for (const session of sessions) session.close()
      })
  ).pipe(Effect.map(({ port }) => ({ address: `${host}:${port}`, port }))))
}
