/**
 * The Prometheus text exposition format (0.0.4) of the metric families VMs return from
 * `Gather`, each sample with extra labels (the VM's chain), families of the same name from
 * several VMs merged under one HELP/TYPE. Effect's own metrics are formatted by effect
 * (`PrometheusMetrics.format`); this covers the protobuf model the plugins speak, which no
 * library formats.
 */
import type { Metric, MetricFamily } from "./chainvm/Values.ts"

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const validName = (name: string) => /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)
const validLabel = (name: string) => /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)

/** A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`). */
export const formatValue = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

const labelText = (labels: Readonly<Record<string, string>>) => {
  const entries = Object.entries(labels).filter(([name]) => validLabel(name))
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

const sample = (name: string, labels: Readonly<Record<string, string>>, value: number, timestampMs?: bigint) =>
  `${name}${labelText(labels)} ${formatValue(value)}${timestampMs === undefined ? "" : ` ${timestampMs}`}`

const samplesOf = (family: MetricFamily, metric: Metric, extra: Readonly<Record<string, string>>): Array<string> => {
  // The VM's own labels first; the extra labels (the chain) win on a clash.
  const labels = { ...metric.labels, ...extra }
  const ts = metric.timestampMs
  switch (family.type) {
    case "summary": {
      const s = metric.summary
      if (s === undefined) return []
      return [
        ...s.quantiles.map((q) => sample(family.name, { ...labels, quantile: formatValue(q.quantile) }, q.value, ts)),
        sample(`${family.name}_sum`, labels, s.sampleSum, ts),
        sample(`${family.name}_count`, labels, s.sampleCount, ts)
      ]
    }
    case "histogram":
    case "gauge-histogram": {
      const h = metric.histogram
      if (h === undefined) return []
      const buckets = h.buckets.map((b) => sample(`${family.name}_bucket`, { ...labels, le: formatValue(b.upperBound) }, b.cumulativeCount, ts))
      const hasInf = h.buckets.some((b) => b.upperBound === Infinity)
      return [
        ...buckets,
        ...(hasInf ? [] : [sample(`${family.name}_bucket`, { ...labels, le: "+Inf" }, h.sampleCount, ts)]),
        sample(`${family.name}_sum`, labels, h.sampleSum, ts),
        sample(`${family.name}_count`, labels, h.sampleCount, ts)
      ]
    }
    default:
      return metric.value === undefined ? [] : [sample(family.name, labels, metric.value, ts)]
  }
}

const typeText = (type: MetricFamily["type"]) => (type === "gauge-histogram" ? "histogram" : type)

/**
 * The families of several sources (each with its extra labels) as one exposition: one
 * HELP/TYPE per family name. A family whose name is not a valid metric name, or that another
 * source sent with another type, is left out (`skipped` says which).
 */
export const format = (
  sources: ReadonlyArray<{ readonly labels: Readonly<Record<string, string>>; readonly families: ReadonlyArray<MetricFamily> }>
): { readonly text: string; readonly skipped: ReadonlyArray<string> } => {
  const byName = new Map<string, { readonly family: MetricFamily; readonly lines: Array<string> }>()
  const skipped: Array<string> = []
  for (const source of sources) {
    for (const family of source.families) {
      if (!validName(family.name)) {
        skipped.push(family.name)
        continue
      }
      let entry = byName.get(family.name)
      if (entry === undefined) {
        entry = { family, lines: [] }
        byName.set(family.name, entry)
      } else if (entry.family.type !== family.type) {
        skipped.push(`${family.name} (${family.type}, already ${entry.family.type})`)
        continue
      }
      for (const metric of family.metrics) entry.lines.push(...samplesOf(family, metric, source.labels))
    }
  }
  const blocks = [...byName.values()].map(({ family, lines }) =>
    [
      ...(family.help === "" ? [] : [`# HELP ${family.name} ${escapeHelp(family.help)}`]),
      `# TYPE ${family.name} ${typeText(family.type)}`,
      ...lines
    ].join("\n")
  )
  return { text: blocks.length === 0 ? "" : `${blocks.join("\n")}\n`, skipped }
}
