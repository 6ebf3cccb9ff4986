/**
 * One trace across the plugin boundary: a span per RPC on each side, with the W3C
 * `traceparent` carried in gRPC metadata (effect's `HttpTraceContext` writes and reads it), so
 * that the node's call, the VM's handling of it, and the VM's calls back into the node (rpcdb,
 * node services) nest in one trace whatever tracer each process exports to.
 *
 * Span names are `<service>/<method>` (`vm.VM/BuildBlock`), kind client or server, with the
 * OpenTelemetry RPC attributes (`rpc.system`, `rpc.service`, `rpc.method`). No stack trace is
 * captured: the span is on every call's hot path, and its name says where it is.
 */
import type { HandlerContext } from "@connectrpc/connect"
import { Context, Effect, Option, type Tracer } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import * as CallContext from "./H2CallContext.ts"

export const TRACEPARENT = "traceparent"

const rpcAttributes = (service: string, method: string, attributes: Readonly<Record<string, unknown>> | undefined) => ({
  "rpc.system": "grpc",
  "rpc.service": service,
  "rpc.method": method,
  ...attributes
})

/**
 * The metadata that carries `span` to the server: W3C `traceparent`, in the layout effect's
 * `HttpTraceContext.toHeaders` writes (which also formats a `b3` header nobody here reads, on
 * every call).
 */
export const headersOf = (span: Tracer.Span): Record<string, string> => ({
  [TRACEPARENT]: `00-${span.traceId.padStart(32, "0")}-${span.spanId}-${span.sampled ? "01" : "00"}`
})

/**
 * A client call in a span of its own: `call` gets the metadata to send (the span's
 * `traceparent`).
 */
export const client = <A, E, R>(
  service: string,
  method: string,
  call: (headers: Record<string, string>) => Effect.Effect<A, E, R>,
  attributes?: Readonly<Record<string, unknown>>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.orDie(Effect.currentSpan), (span) => call(headersOf(span))).pipe(
    Effect.withSpan(`${service}/${method}`, { kind: "client", attributes: rpcAttributes(service, method, attributes) }, { captureStackTrace: false })
  )

/** The `traceparent` a call's client sent (read from the raw header block when the engine kept it). */
export const traceparentOf = (handler: HandlerContext): string | null => {
  const raw = CallContext.rawHeaders(handler)
  if (raw === undefined) return handler.requestHeader.get(TRACEPARENT)
  const value = raw[TRACEPARENT]
  return typeof value === "string" ? value : null
}

/** The caller's span, from the `traceparent` it sent, if it sent one. */
export const parentOf = (traceparent: string | null): Option.Option<Tracer.ExternalSpan> =>
  traceparent === null ? Option.none() : HttpTraceContext.w3c(Headers.fromInput({ [TRACEPARENT]: traceparent }))

/** A server's handling of one call, in a span that is a child of the caller's (when it sent `traceparent`). */
export const server = <A, E, R>(
  service: string,
  method: string,
  traceparent: string | null,
  handling: Effect.Effect<A, E, R>,
  attributes?: Readonly<Record<string, unknown>>
): Effect.Effect<A, E, R> => {
  const spanned = Effect.withSpan(handling, `${service}/${method}`, {
    kind: "server",
    attributes: rpcAttributes(service, method, attributes),
    captureStackTrace: false
  })
  const parent = parentOf(traceparent)
  return Option.isSome(parent) ? Effect.withParentSpan(spanned, parent.value) : spanned
}

/** The call a server is handling, for handlers that run their effects with a context of their own. */
export class RpcCall extends Context.Service<RpcCall, {
  readonly service: string
  readonly method: string
  readonly traceparent: string | null
}>()("@vmre/transport/Tracing/RpcCall") {}

/** `context` with the call being handled, for {@link inCallSpan}. */
export const callContext = <R>(
  context: Context.Context<R>,
  service: string,
  method: string,
  traceparent: string | null
): Context.Context<R> => Context.add(context, RpcCall, { service, method, traceparent })

/** `effect` in the server span of the call in its context ({@link callContext}); as it is without one. */
export const inCallSpan = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.serviceOption(RpcCall), (call) =>
    Option.isNone(call) ? effect : server(call.value.service, call.value.method, call.value.traceparent, effect))
