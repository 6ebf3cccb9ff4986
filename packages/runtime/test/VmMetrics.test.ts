/**
 * One metrics endpoint for the host and its VMs, scraped over HTTP and read by an independent
 * Prometheus text parser: the host's `vmre_*` metrics, each VM process's CPU, memory and file
 * descriptors, each VM's own families (Gather) labelled by chain; a VM that hangs its Gather
 * does not hold the scrape.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { parsePrometheus, sampleOf } from "../../../test-support/prometheus.ts"
import { ChainVm, type ChainVmConfig } from "../src/chainvm/ChainVm.ts"
import { VmMetrics } from "../src/VmMetrics.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import * as PrometheusText from "../src/PrometheusText.ts"
import { captureLogs } from "./support.ts"

const payloadChain = fileURLToPath(new URL("../../../examples/payload-chain/bin/payload-chain", import.meta.url))
const hangingGather: ChainVmConfig = {
  path: process.execPath,
  args: [fileURLToPath(new URL("./fixtures/chainvm-plugin.ts", import.meta.url))],
  name: "hangs",
  env: { FIXTURE_MODE: "upstream" },
  stopTimeout: "500 millis"
}

const scrape = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
  })

describe("VmMetrics", () => {
  it.live("serves host, process and VM metrics at /metrics, each VM's labelled with its chain", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const metrics = yield* VmMetrics
      const { client } = yield* ChainVm.launch({ path: payloadChain, name: "chain-a" })
      yield* client.version()
      const answer = yield* scrape(metrics.url!)
      expect(answer.status).toBe(200)
      expect(answer.type).toBe("text/plain; version=0.0.4; charset=utf-8")
      const families = parsePrometheus(answer.text)
      // The host's own metrics.
      expect(sampleOf(families, "vmre_launches_total")).toBeGreaterThanOrEqual(1)
      // The VM's process.
      expect(sampleOf(families, "vmre_vm_up", { chain: "chain-a" })).toBe(1)
      expect(sampleOf(families, "vmre_vm_gather_up", { chain: "chain-a" })).toBe(1)
      expect(sampleOf(families, "vmre_vm_resident_memory_bytes", { chain: "chain-a" })).toBeGreaterThan(10 * 1024 * 1024)
      expect(sampleOf(families, "vmre_vm_open_fds", { chain: "chain-a" })).toBeGreaterThan(3)
      expect(sampleOf(families, "vmre_vm_cpu_seconds_total", { chain: "chain-a" })).toBeGreaterThan(0)
      // The VM's own families, from Gather, labelled with its chain (the SDK counts its RPCs).
      expect(sampleOf(families, "vm_rpc_calls_total", { chain: "chain-a", method: "Version" })).toBeGreaterThanOrEqual(1)
      expect(families.find((f) => f.name === "vm_rpc_calls_total")?.type).toBe("COUNTER")
      // Anything else is 404.
      expect((yield* scrape(metrics.url!.replace("/metrics", "/other"))).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(VmRuntime.layer, VmMetrics.layerListen({ gatherTimeout: "1 second" }), logs.layer)))
  }, 30_000)

  it.live("a VM whose Gather hangs is reported gather_up 0 within the bound; the others are served", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const metrics = yield* VmMetrics
      const healthy = yield* ChainVm.launch({ path: payloadChain, name: "healthy" })
      yield* healthy.client.version()
      yield* ChainVm.launch(hangingGather)
      const started = Date.now()
      const families = parsePrometheus((yield* scrape(metrics.url!)).text)
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(sampleOf(families, "vmre_vm_gather_up", { chain: "hangs" })).toBe(0)
      expect(sampleOf(families, "vmre_vm_up", { chain: "hangs" })).toBe(1)
      expect(sampleOf(families, "vmre_vm_gather_up", { chain: "healthy" })).toBe(1)
      expect(sampleOf(families, "vm_rpc_calls_total", { chain: "healthy", method: "Version" })).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(VmRuntime.layer, VmMetrics.layerListen({ gatherTimeout: "500 millis" }), logs.layer)))
  }, 30_000)

  it.live("a VM's stopped chain leaves the exposition", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const metrics = yield* VmMetrics
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ChainVm.launch({ path: payloadChain, name: "short-lived" })
        expect(yield* metrics.scrape).toContain(`chain="short-lived"`)
      }))
      expect(yield* metrics.scrape).not.toContain(`chain="short-lived"`)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(VmRuntime.layer, VmMetrics.layer(), logs.layer)))
  }, 30_000)
})

describe("PrometheusText", () => {
  it("writes each model the parser reads back: counters, gauges, summaries, histograms; families merged across VMs", () => {
    const metric = (labels: Record<string, string>, rest: Partial<{ value: number; summary: never; histogram: never }>) => ({
      labels,
      timestampMs: undefined,
      value: undefined,
      summary: undefined,
      histogram: undefined,
      ...rest
    })
    // Histograms and summaries without labels of their own: the independent parser reads the
    // _sum and _count of unlabelled series only.
    const { text, skipped } = PrometheusText.format([
      {
        labels: {},
        families: [
          {
            name: "latency_seconds",
            help: "",
            type: "histogram",
            unit: undefined,
            metrics: [{
              ...metric({}, {}),
              histogram: { sampleCount: 4, sampleSum: 1.5, buckets: [{ upperBound: 0.1, cumulativeCount: 1 }, { upperBound: 1, cumulativeCount: 3 }] }
            }]
          },
          {
            name: "size_bytes",
            help: "sizes",
            type: "summary",
            unit: undefined,
            metrics: [{ ...metric({}, {}), summary: { sampleCount: 2, sampleSum: 10, quantiles: [{ quantile: 0.5, value: 4 }] } }]
          }
        ]
      },
      {
        labels: { chain: "a" },
        families: [
          { name: "hits_total", help: "Hits\nper \\ chain", type: "counter", unit: undefined, metrics: [metric({ path: "/x\"y" }, { value: 3 })] },
          { name: "bad-name", help: "", type: "gauge", unit: undefined, metrics: [metric({}, { value: 1 })] }
        ]
      },
      {
        labels: { chain: "b" },
        families: [
          { name: "hits_total", help: "Hits", type: "counter", unit: undefined, metrics: [metric({}, { value: Infinity })] },
          { name: "latency_seconds", help: "", type: "gauge", unit: undefined, metrics: [metric({}, { value: 1 })] }
        ]
      }
    ])
    const families = parsePrometheus(text)
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ["latency_seconds", "HISTOGRAM"],
      ["size_bytes", "SUMMARY"],
      ["hits_total", "COUNTER"]
    ])
    expect(families[0]!.metrics[0]).toEqual({ buckets: { "0.1": "1", "1": "3", "+Inf": "4" }, count: "4", sum: "1.5" })
    expect(families[1]!.metrics[0]).toEqual({ quantiles: { "0.5": "4" }, count: "2", sum: "10" })
    expect(families[2]!.help).toBe("Hits\nper \\ chain")
    expect(families[2]!.metrics).toEqual([
      { value: "3", labels: { path: "/x\"y", chain: "a" } },
      { value: "+Inf", labels: { chain: "b" } }
    ])
    expect(skipped).toEqual(["bad-name", "latency_seconds (gauge, already histogram)"])
  })
})
