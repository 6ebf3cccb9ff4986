/**
 * Metrics for `vm.VM/Gather`: Effect's `Metric` registry rendered as Prometheus
 * `io.prometheus.client.MetricFamily` messages, plus the SDK's own counters.
 *
 * A VM author records metrics with Effect's `Metric` module (counters, gauges, histograms,
 * summaries, frequencies); Gather reports every metric of the registry in the server's
 * context. Families, series and labels are sorted as Go's Prometheus registry sorts them.
 */
import { create } from "@bufbuild/protobuf"
import {
  type Metric as PromMetric,
  type MetricFamily,
  MetricFamilySchema,
  MetricSchema,
  MetricType
} from "@vmre/proto/io/prometheus/client/metrics_pb"
import { Effect, Metric } from "effect"

/** Calls per vm.VM method, label `method` (e.g. `BuildBlock`). */
export const rpcCalls = Metric.counter("vm_rpc_calls_total", {
  description: "vm.VM calls received, by method",
  incremental: true
})
/** Calls that ended in a gRPC error status, label `method`. */
export const rpcErrors = Metric.counter("vm_rpc_errors_total", {
  description: "vm.VM calls answered with a gRPC error status, by method",
  incremental: true
})
export const blocksBuilt = Metric.counter("vm_blocks_built_total", {
  description: "Blocks built by the VM",
  incremental: true
})
export const blocksVerified = Metric.counter("vm_blocks_verified_total", {
  description: "Blocks that passed verification",
  incremental: true
})
export const blocksVerifyFailed = Metric.counter("vm_blocks_verify_failed_total", {
  description: "Blocks that failed verification",
  incremental: true
})
export const blocksAccepted = Metric.counter("vm_blocks_accepted_total", {
  description: "Blocks accepted",
  incremental: true
})
export const blocksRejected = Metric.counter("vm_blocks_rejected_total", {
  description: "Blocks rejected",
  incremental: true
})
export const processingBlocks = Metric.gauge("vm_processing_blocks", {
  description: "Verified blocks waiting for a decision"
})
export const lastAcceptedHeight = Metric.gauge("vm_last_accepted_height", {
  description: "Height of the last accepted block"
})

const sanitizeName = (name: string): string => {
  let s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  if (/^[0-9]/.test(s)) s = "_" + s
  return s
}

const sanitizeLabel = (name: string): string => {
  let s = name.replace(/[^a-zA-Z0-9_]/g, "_")
  if (/^[0-9]/.test(s)) s = "_" + s
  return s
}

type Snapshot = Metric.Metric.Snapshot

const labelsOf = (attributes: Metric.Metric.AttributeSet | undefined, extra?: readonly [string, string]) => {
  const pairs: Array<[string, string]> = []
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (key === "unit" || key === "time_unit") continue
    pairs.push([sanitizeLabel(key), value])
  }
  if (extra !== undefined) pairs.push([extra[0], extra[1]])
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return pairs.map(([name, value]) => ({ name, value }))
}

const num = (value: number | bigint): number => (typeof value === "bigint" ? Number(value) : value)

const typeOf = (type: Metric.Metric.Type): MetricType => {
  switch (type) {
    case "Counter":
    case "Frequency":
      return MetricType.COUNTER
    case "Gauge":
      return MetricType.GAUGE
    case "Histogram":
      return MetricType.HISTOGRAM
    case "Summary":
      return MetricType.SUMMARY
  }
}

const seriesOf = (snapshot: Snapshot): Array<PromMetric> => {
  switch (snapshot.type) {
    case "Counter":
      return [create(MetricSchema, { label: labelsOf(snapshot.attributes), counter: { value: num(snapshot.state.count) } })]
    case "Gauge":
      return [create(MetricSchema, { label: labelsOf(snapshot.attributes), gauge: { value: num(snapshot.state.value) } })]
    case "Frequency":
      return Array.from(snapshot.state.occurrences, ([key, count]) =>
        create(MetricSchema, { label: labelsOf(snapshot.attributes, ["key", key]), counter: { value: count } }))
    case "Histogram":
      return [create(MetricSchema, {
        label: labelsOf(snapshot.attributes),
        histogram: {
          sampleCount: BigInt(snapshot.state.count),
          sampleSum: snapshot.state.sum,
          bucket: snapshot.state.buckets
            .filter(([bound]) => bound !== Number.POSITIVE_INFINITY)
            .map(([upperBound, cumulativeCount]) => ({ upperBound, cumulativeCount: BigInt(cumulativeCount) }))
        }
      })]
    case "Summary":
      return [create(MetricSchema, {
        label: labelsOf(snapshot.attributes),
        summary: {
          sampleCount: BigInt(snapshot.state.count),
          sampleSum: snapshot.state.sum,
          quantile: snapshot.state.quantiles
            .filter((q): q is readonly [number, number] => q[1] !== undefined)
            .map(([quantile, value]) => ({ quantile, value }))
        }
      })]
  }
}

const seriesKey = (metric: PromMetric): string => metric.label.map((l) => `${l.name}\u0000${l.value}`).join("\u0001")

/** Renders metric snapshots as Prometheus families (sorted by name; series by labels). */
export const toMetricFamilies = (snapshots: ReadonlyArray<Snapshot>): Array<MetricFamily> => {
  const families = new Map<string, MetricFamily>()
  for (const snapshot of snapshots) {
    const name = sanitizeName(snapshot.id)
    let family = families.get(name)
    if (family === undefined) {
      family = create(MetricFamilySchema, { name, type: typeOf(snapshot.type), metric: [] })
      if (snapshot.description !== undefined && snapshot.description !== "") family.help = snapshot.description
      families.set(name, family)
    } else if (family.type !== typeOf(snapshot.type)) {
      continue // the same name registered with another type: Prometheus cannot represent it
    }
    family.metric.push(...seriesOf(snapshot))
  }
  const sorted = [...families.values()].sort((a, b) => ((a.name ?? "") < (b.name ?? "") ? -1 : 1))
  for (const family of sorted) family.metric.sort((a, b) => (seriesKey(a) < seriesKey(b) ? -1 : 1))
  return sorted
}

/** The Effect metrics of the current context as Prometheus families. */
export const gather: Effect.Effect<Array<MetricFamily>> = Effect.map(Metric.snapshot, toMetricFamilies)

/**
 * Merges extra families (e.g. the VM's own) into `base`: a family whose name is already
 * there is dropped, since Prometheus forbids two families of one name.
 */
export const merge = (base: ReadonlyArray<MetricFamily>, extra: ReadonlyArray<MetricFamily>): Array<MetricFamily> => {
  const names = new Set(base.map((f) => f.name))
  const all = [...base, ...extra.filter((f) => !names.has(f.name))]
  return all.sort((a, b) => ((a.name ?? "") < (b.name ?? "") ? -1 : 1))
}
