/**
 * Starting a server listening on a numeric address without node's address lookup.
 *
 * `server.listen(port, host)` sends even an IP literal through `dns.lookup` (loading node:dns,
 * a thread-pool round trip), then checks the answer for an IPv6 link-local address, and that
 * check compiles node's IPv6 regular expression the first time: 5–8 ms of a plugin's start
 * before its server listens (a CPU profile of the example VM's start). `net.BoundSocket`
 * (where Node has it: the pinned Node 26 does) binds a numeric address at once, and `listen`
 * adopts it: same socket, no lookup. Older Nodes, and host names, take the usual path.
 */
import * as net from "node:net"

const BoundSocket: typeof net.BoundSocket | undefined = (net as { BoundSocket?: typeof net.BoundSocket }).BoundSocket

/**
 * `server.listen(port, host, onListening)`, bound directly when `host` is an IP address.
 * A bind failure (the port is taken, …) is emitted as the server's `error` event, as
 * `listen` reports it, never thrown.
 */
export const listen = (server: net.Server, port: number, host: string, onListening: () => void): void => {
  if (BoundSocket === undefined || net.isIP(host) === 0) {
    server.listen(port, host, onListening)
    return
  }
  let bound: net.BoundSocket
  try {
    bound = new BoundSocket({ host, port })
  } catch (error) {
    process.nextTick(() => server.emit("error", error))
    return
  }
  server.listen(bound, onListening)
}
