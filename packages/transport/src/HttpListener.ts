/**
 * A plain HTTP/1.1 server as a scoped resource, for what a node serves beside gRPC (its chains'
 * HTTP API, its metrics): listening on `host:port` (0: any free port) until the scope closes,
 * then closed with its open connections.
 */
import { Effect, type Scope } from "effect"
import * as http from "node:http"
import * as ListenAddress from "./ListenAddress.ts"

export interface Listening {
  /** `http://host:port` (an IPv6 host in brackets). */
  readonly url: string
  readonly port: number
}

/** Listens with `handler`; fails with the listen error's text (the address is taken, …). */
export const listen = (
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  address: { readonly host: string; readonly port: number }
): Effect.Effect<Listening, string, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<http.Server, string>((resume) => {
      const server = http.createServer(handler)
      server.once("error", (error) => resume(Effect.fail(error.message)))
      ListenAddress.listen(server, address.port, address.host, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map((server) => {
    const port = (server.address() as { port: number }).port
    const host = address.host.includes(":") ? `[${address.host}]` : address.host
    return { url: `http://${host}:${port}`, port }
  }))
