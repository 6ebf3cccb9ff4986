/** Flags for the servers a command may run beside its VMs: the chain's HTTP API, the metrics endpoint. */
import { Handshake } from "@vmre/runtime"
import { Option } from "effect"
import { Flag } from "effect/cli"

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

/** HOST:PORT to listen on (port 0: any free port; an IPv6 host in brackets). */
export const parseListenAddress = (text: string): ListenAddress | undefined => {
  const split = Handshake.splitHostPort(text.trim())
  const port = Number(split?.port)
  return split === undefined || port > 65535 ? undefined : { host: split.host.replace(/^\[(.*)\]$/, "$1"), port }
}

const listenFlag = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withMetavar("HOST:PORT"),
    Flag.withDescription(description),
    Flag.filterMap((text) => Option.fromNullishOr(parseListenAddress(text)), () => "HOST:PORT, e.g. 127.0.0.1:9650"),
    Flag.optional
  )

export const httpFlag = listenFlag(
  "http",
  "Serve the chain's HTTP API (its VM's handlers at /ext/bc/<chain>/...) on HOST:PORT; port 0 picks one"
)

export const metricsFlag = listenFlag(
  "metrics",
  "Serve Prometheus metrics at http://HOST:PORT/metrics: the host's, each VM process's, and each VM's own (Gather) labelled by chain; port 0 picks one"
)
