/** An OTLP/HTTP JSON trace collector for tests: every exported span, with its service's name. */
import { Effect } from "effect"
import * as http from "node:http"

export interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
}
export const SERVER = 2
export const CLIENT = 3

/** An OTLP/HTTP JSON collector: the spans of every export, with the exporting service's name. */
export const collector = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: http.Server; url: string; spans: Array<OtlpSpan & { service: string }> }>((resolve) => {
      const spans: Array<OtlpSpan & { service: string }> = []
      const server = http.createServer((req, res) => {
        let body = ""
        req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => {
          const data = JSON.parse(body) as {
            resourceSpans: Array<{
              resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
              scopeSpans: Array<{ spans: Array<OtlpSpan> }>
            }>
          }
          for (const resource of data.resourceSpans) {
            const service = resource.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "?"
            for (const scope of resource.scopeSpans) for (const span of scope.spans) spans.push({ ...span, service })
          }
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, spans }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

