/**
 * Which gRPC engine carries vmre's calls, at both ends: `"h2"`, vmre's own engine on bare
 * node:http2 (`H2Transport`, `H2Handler`), the default since it passed the interop and hostile
 * suites and the bench measured it; or `"connect"`, Connect's node transport and adapter, the
 * reference and the fallback. Both serve the same Connect service implementations and typed
 * clients; only the wire machinery under them differs.
 *
 * `VMRE_GRPC_ENGINE=connect` selects Connect's in a process that does not say otherwise (a host
 * passes its environment to the plugins it launches, so one variable switches both ends).
 */
export type Kind = "h2" | "connect"

export const ENV = "VMRE_GRPC_ENGINE"

/** The engine the environment asks for: Connect's only when `VMRE_GRPC_ENGINE=connect`. */
export const fromEnv = (): Kind => (process.env[ENV] === "connect" ? "connect" : "h2")

/** The engine for one client or server: what was asked, else the environment's; gzip needs Connect's (the engine does not compress). */
export const choose = (asked: Kind | undefined, compression?: "identity" | "gzip" | undefined): Kind =>
  compression === "gzip" ? "connect" : asked ?? fromEnv()
