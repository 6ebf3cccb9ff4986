/**
 * One trace across the plugin boundary: the node and the example VM (a real process) both
 * export their spans over OTLP/HTTP to a collector in the test (the VM configured by the
 * standard OTEL_* variables), and the parent links join them: the node's BuildBlock call →
 * the VM's handling of it; the node's BlockAccept → the VM's handling → its rpcdb WriteBatch
 * → the node's rpcdb server.
 */
import { describe, expect, it } from "@effect/vitest"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { CLIENT, collector, type OtlpSpan, SERVER } from "../../../test-support/otlp.ts"
import * as Chain from "../src/Chain.ts"
import { chainIdOf, payloadChainScript, tempDir, testNode, vmIdOf, writeScript } from "./support.ts"

const hostTracer = (url: string) =>
  OtlpTracer.layer({ url: `${url}/v1/traces`, resource: { serviceName: "test-node" }, exportInterval: "200 millis" }).pipe(
    Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson])
  )

describe("tracing across the plugin boundary", () => {
  it.live("the node's calls, the VM's handling and its calls back into the node form one trace", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-trace-")
      const otlp = yield* collector
      const vmId = vmIdOf(3)
      const plugin = writeScript(dir, vmId, payloadChainScript())
      const config = new TextEncoder().encode(JSON.stringify({ autoPayload: { intervalMillis: 100, bytes: 32 } }))
      yield* Effect.gen(function*() {
        const chain = yield* Chain.run({ chainId: chainIdOf(60), vm: vmId, name: "traced", config, untilHeight: 2n })
        yield* chain.done
      }).pipe(
        Effect.scoped,
        Effect.provide(testNode(dir, {
          plugins: [{ vmId, path: plugin }],
          launch: { launch: { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: "test-vm" } } }
        })),
        Effect.provide(hostTracer(otlp.url))
      )
      // Both processes have flushed at their ends (the VM at its stop, the node with its layer).
      const spans = otlp.spans
      const node = spans.filter((s) => s.service === "test-node")
      const vm = spans.filter((s) => s.service === "test-vm")
      expect(node.length).toBeGreaterThan(0)
      expect(vm.length).toBeGreaterThan(0)

      const childOf = (parent: OtlpSpan, candidates: ReadonlyArray<OtlpSpan>, name: string, kind: number) =>
        candidates.find((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId && s.name === name && s.kind === kind)

      // The node's BuildBlock → the VM's BuildBlock.
      const builds = node.filter((s) => s.name === "vm.VM/BuildBlock" && s.kind === CLIENT)
      expect(builds.length).toBeGreaterThanOrEqual(2)
      expect(builds.every((b) => childOf(b, vm, "vm.VM/BuildBlock", SERVER) !== undefined)).toBe(true)

      // The node's BlockAccept → the VM's BlockAccept → the VM's rpcdb WriteBatch → the node's rpcdb server.
      const accepts = node.filter((s) => s.name === "vm.VM/BlockAccept" && s.kind === CLIENT)
      expect(accepts.length).toBeGreaterThanOrEqual(2)
      const chains = accepts.map((accept) => {
        const handled = childOf(accept, vm, "vm.VM/BlockAccept", SERVER)
        const write = handled && vm.find((s) => s.name === "rpcdb.Database/WriteBatch" && s.kind === CLIENT && s.traceId === accept.traceId)
        const stored = write && childOf(write, node, "rpcdb.Database/WriteBatch", SERVER)
        return [handled?.name, write?.name, stored?.name]
      })
      expect(chains).toContainEqual(["vm.VM/BlockAccept", "rpcdb.Database/WriteBatch", "rpcdb.Database/WriteBatch"])
      // The handshake and the stop sequence are spans of the node too: Shutdown (with its call), then the process's stop.
      expect(node.some((s) => /handshake/i.test(s.name))).toBe(true)
      const shutdown = node.find((s) => s.name === "ChainVm.shutdown")
      expect(shutdown).toBeDefined()
      expect(childOf(shutdown!, node, "vm.VM/Shutdown", CLIENT)).toBeDefined()
      expect(node.some((s) => s.name === "VmProcess.stop")).toBe(true)
    }).pipe(Effect.scoped), 60_000)

  it.live("with @effect/opentelemetry as the node's tracer (OpenTelemetry's SDK), the VM's spans are children of its calls", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-trace-otel-")
      const otlp = yield* collector
      const vmId = vmIdOf(4)
      const plugin = writeScript(dir, vmId, payloadChainScript())
      const exporter = new InMemorySpanExporter()
      const config = new TextEncoder().encode(JSON.stringify({ autoPayload: { intervalMillis: 100, bytes: 32 } }))
      const nodeSpans = yield* Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          const chain = yield* Chain.run({ chainId: chainIdOf(61), vm: vmId, name: "otel", config, untilHeight: 1n })
          yield* chain.done
        }))
        // Read before the SDK shuts down (its in-memory exporter forgets at shutdown).
        return exporter.getFinishedSpans()
      }).pipe(
        Effect.provide(testNode(dir, {
          plugins: [{ vmId, path: plugin }],
          launch: { launch: { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: "otel-vm" } } }
        })),
        Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "otel-node" }, spanProcessor: new SimpleSpanProcessor(exporter) })))
      )
      const build = nodeSpans.find((s) => s.name === "vm.VM/BuildBlock")
      expect(build).toBeDefined()
      const handled = otlp.spans.find((s) => s.service === "otel-vm" && s.name === "vm.VM/BuildBlock" && s.kind === SERVER)
      expect(handled).toMatchObject({ traceId: build!.spanContext().traceId, parentSpanId: build!.spanContext().spanId })
    }).pipe(Effect.scoped), 60_000)
})
