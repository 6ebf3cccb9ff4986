/**
 * `Gather`'s Prometheus families as plain values. The classic model only: native histogram
 * buckets and exemplars stay in the raw protobuf messages (`gatherRaw`).
 */
import { isFieldSet } from "@bufbuild/protobuf"
import {
  type MetricFamily as PbMetricFamily,
  MetricSchema,
  MetricType as PbMetricType
} from "@vmre/proto/io/prometheus/client/metrics_pb"
import { Result } from "effect"
import type { Field } from "./Codec.ts"
import type { Metric, MetricFamily, MetricType } from "./Values.ts"

const metricTypes: Record<number, MetricType> = {
  [PbMetricType.COUNTER]: "counter",
  [PbMetricType.GAUGE]: "gauge",
  [PbMetricType.SUMMARY]: "summary",
  [PbMetricType.UNTYPED]: "untyped",
  [PbMetricType.HISTOGRAM]: "histogram",
  [PbMetricType.GAUGE_HISTOGRAM]: "gauge-histogram"
}

const toMetric = (m: PbMetricFamily["metric"][number]): Metric => ({
  labels: Object.fromEntries(m.label.map((l) => [l.name, l.value])),
  timestampMs: isFieldSet(m, MetricSchema.field.timestampMs) ? m.timestampMs : undefined,
  value: m.counter?.value ?? m.gauge?.value ?? m.untyped?.value,
  summary: m.summary === undefined ? undefined : {
    sampleCount: Number(m.summary.sampleCount),
    sampleSum: m.summary.sampleSum,
    quantiles: m.summary.quantile.map((q) => ({ quantile: q.quantile, value: q.value }))
  },
  histogram: m.histogram === undefined ? undefined : {
    sampleCount: m.histogram.sampleCountFloat > 0 ? m.histogram.sampleCountFloat : Number(m.histogram.sampleCount),
    sampleSum: m.histogram.sampleSum,
    buckets: m.histogram.bucket.map((b) => ({
      upperBound: b.upperBound,
      cumulativeCount: b.cumulativeCountFloat > 0 ? b.cumulativeCountFloat : Number(b.cumulativeCount)
    }))
  }
})

export const readMetricFamily = (family: PbMetricFamily): Field<MetricFamily> => {
  const type = metricTypes[family.type]
  return type === undefined ?
    Result.fail(`metric family ${family.name}: unknown type ${family.type}`) :
    Result.succeed({
      name: family.name,
      help: family.help,
      type,
      unit: family.unit === "" ? undefined : family.unit,
      metrics: family.metric.map(toMetric)
    })
}

export const readMetricFamilies = (families: ReadonlyArray<PbMetricFamily>): Field<ReadonlyArray<MetricFamily>> =>
  Result.all(families.map(readMetricFamily))
