/**
 * Where a plugin's spans go: with the standard OpenTelemetry exporter variables set
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`;
 * `OTEL_SERVICE_NAME`, default the VM's name), an OTLP/HTTP (JSON) exporter; otherwise none,
 * and spans stay in the process. A host launched by vmre passes its OTEL_* variables on, so a
 * VM's spans reach the collector the node's go to, as children of the node's calls.
 */
import { Effect, Layer } from "effect"

/** The OTLP traces URL the environment names, if any. */
export const otlpTracesUrl = (env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  if (traces !== undefined && traces !== "") return traces
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT
  return base === undefined || base === "" ? undefined : `${base.replace(/\/$/, "")}/v1/traces`
}

/**
 * Runs `program` with spans exported as the environment says (or kept in the process). The
 * exporter's modules load only when one is configured: a plugin's start-up does not pay for them.
 */
export const withTracingFromEnv = <A, E>(program: Effect.Effect<A, E>, serviceName: string): Effect.Effect<A, E> => {
  const url = otlpTracesUrl()
  if (url === undefined) return program
  return Effect.flatMap(
    Effect.promise(() => Promise.all([import("effect/observability"), import("effect/http")])),
    ([{ OtlpSerialization, OtlpTracer }, { FetchHttpClient }]) =>
      Effect.provide(
        program,
        OtlpTracer.layer({
          url,
          resource: { serviceName: process.env.OTEL_SERVICE_NAME ?? serviceName, attributes: { "process.pid": process.pid } },
          // Each second, and at the end: a plugin's life may be short.
          exportInterval: "1 second"
        }).pipe(Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson]))
      )
  )
}
