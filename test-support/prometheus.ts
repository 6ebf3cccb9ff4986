/** Prometheus text parsed by an independent parser (parse-prometheus-text-format), typed for the tests. */
import parseText from "parse-prometheus-text-format"

export interface ParsedFamily {
  readonly name: string
  readonly help: string
  readonly type: "COUNTER" | "GAUGE" | "SUMMARY" | "HISTOGRAM" | "UNTYPED"
  readonly metrics: ReadonlyArray<{
    readonly value?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly buckets?: Readonly<Record<string, string>>
    readonly quantiles?: Readonly<Record<string, string>>
    readonly count?: string
    readonly sum?: string
  }>
}

export const parsePrometheus = (text: string): ReadonlyArray<ParsedFamily> => (parseText as (text: string) => Array<ParsedFamily>)(text)

/** The value of `name`'s sample whose labels include `labels`, as a number; undefined if none. */
export const sampleOf = (families: ReadonlyArray<ParsedFamily>, name: string, labels: Readonly<Record<string, string>> = {}) => {
  const family = families.find((f) => f.name === name)
  const metric = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  return metric?.value === undefined ? undefined : Number(metric.value)
}
