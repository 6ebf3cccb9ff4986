import { describe, expect, it } from "@effect/vitest"
import { create } from "@bufbuild/protobuf"
import { MetricFamilySchema, MetricType } from "@vmre/proto/io/prometheus/client/metrics_pb"
import { Effect, Metric } from "effect"
import { Block, Id, Metrics } from "../src/index.ts"

describe("Id", () => {
  it("prints IDs in CB58 as the Go nodes do", () => {
    // avalanchego's ids.Empty.String().
    expect(Id.toString(Id.empty)).toBe("11111111111111111111111111111111LpoYY")
    const id = Id.sha256(new TextEncoder().encode("x"))
    expect(Id.fromString(Id.toString(id))).toEqual(id)
    expect(Id.fromString(Id.toString(id).slice(0, -1) + "1")).toBeUndefined()
    expect(Id.fromString("0OIl")).toBeUndefined()
  })

  it("compares and converts", () => {
    expect(Id.isId(new Uint8Array(32))).toBe(true)
    expect(Id.isId(new Uint8Array(20))).toBe(false)
    expect(Id.equals(Id.empty, new Uint8Array(32))).toBe(true)
    expect(Id.toHex(new Uint8Array([0, 255]))).toBe("00ff")
    expect(Id.fromHex("00ff")).toEqual(new Uint8Array([0, 255]))
    expect(Id.fromHex("0")).toBeUndefined()
  })
})

describe("Block.toTimestamp", () => {
  it("keeps milliseconds and refuses dates outside google.protobuf.Timestamp", () => {
    const ts = Block.toTimestamp(new Date(Date.UTC(2025, 0, 1, 0, 0, 0, 123)))
    expect(ts).toMatchObject({ timestamp: { seconds: 1735689600n, nanos: 123_000_000 } })
    const before = Block.toTimestamp(new Date(-1))
    expect(before).toMatchObject({ timestamp: { seconds: -1n, nanos: 999_000_000 } })
    expect(Block.toTimestamp(new Date(Number.NaN))).toHaveProperty("problem")
    expect(Block.toTimestamp(new Date("+010000-01-01T00:00:00Z"))).toHaveProperty("problem")
  })
})

describe("Metrics", () => {
  it.effect("renders Effect metrics as sorted Prometheus families", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("z.calls", { description: "calls", incremental: true })
      yield* Metric.update(Metric.withAttributes(counter, { method: "B" }), 2)
      yield* Metric.update(Metric.withAttributes(counter, { method: "A" }), 1)
      yield* Metric.update(Metric.gauge("a_gauge"), 7)
      const histogram = Metric.histogram("m_latency", { boundaries: [1, 10] })
      yield* Metric.update(histogram, 5)
      yield* Metric.update(Metric.frequency("f_kinds"), "x")
      const families = Metrics.toMetricFamilies(yield* Metric.snapshot)
      expect(families.map((f) => f.name)).toEqual(["a_gauge", "f_kinds", "m_latency", "z_calls"])
      const calls = families[3]!
      expect(calls.type).toBe(MetricType.COUNTER)
      expect(calls.help).toBe("calls")
      expect(calls.metric.map((m) => [m.label[0]!.value, m.counter!.value])).toEqual([["A", 1], ["B", 2]])
      expect(families[0]!.metric[0]!.gauge!.value).toBe(7)
      expect(families[1]!.metric[0]!.label).toMatchObject([{ name: "key", value: "x" }])
      const h = families[2]!.metric[0]!.histogram!
      expect(h.sampleCount).toBe(1n)
      expect(h.sampleSum).toBe(5)
      expect(h.bucket.map((b) => [b.upperBound, b.cumulativeCount])).toEqual([[1, 0n], [10, 1n]])
      // A VM's extra family never replaces one of the same name.
      const merged = Metrics.merge(families, [create(MetricFamilySchema, { name: "a_gauge" }), create(MetricFamilySchema, { name: "b" })])
      expect(merged.map((f) => f.name)).toEqual(["a_gauge", "b", "f_kinds", "m_latency", "z_calls"])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
