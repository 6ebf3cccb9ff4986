/**
 * One Prometheus endpoint for a host and its VMs: the host's own metrics (`vmre_*`, formatted
 * by effect's `PrometheusMetrics`), each running VM's process metrics read from /proc (CPU
 * seconds, resident memory, open file descriptors), and each VM's own families fetched with
 * `Gather` and labelled with its chain (`chain="<name>"`), as avalanchego serves plugin
 * metrics under the chain's namespace.
 *
 * VMs launched through `ChainVm` (and so every chain of `@vmre/node`) register themselves
 * while this service is provided. A scrape never waits on a hung VM for long: each `Gather`
 * is bounded (`gatherTimeout`, 2 s), and a VM that does not answer in time reports
 * `vmre_vm_gather_up 0` instead of its families.
 */
import { Context, Duration, Effect, Layer, Option, Schema, type Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as fs from "node:fs"
import { HttpListener } from "@vmre/transport"
import type { MetricFamily } from "./chainvm/Values.ts"
import * as PrometheusText from "./PrometheusText.ts"

/** A VM whose metrics the endpoint serves. */
export interface VmMetricsSource {
  /** The chain (or VM) name: the `chain` label of everything it reports. */
  readonly name: string
  readonly pid: number
  readonly gather: Effect.Effect<ReadonlyArray<MetricFamily>, unknown>
}

export interface VmMetricsOptions {
  /** How long one VM's `Gather` may take in a scrape (default 2 s). */
  readonly gatherTimeout?: Duration.Input | undefined
}

export interface ListenOptions extends VmMetricsOptions {
  readonly host?: string | undefined
  /** 0 (default) picks a free port. */
  readonly port?: number | undefined
}

/** The metrics server of `layerListen` could not listen. */
export class MetricsListenError extends Schema.TaggedError<MetricsListenError>()("MetricsListenError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `cannot serve metrics on ${this.host}:${this.port}: ${this.reason} (choose another --metrics address, or port 0 for any free port)`
  }
}

// Linux's USER_HZ and page size on every architecture Node supports.
const CLOCK_TICKS = 100
const PAGE_BYTES = 4096

/** CPU seconds, resident bytes and open descriptors of a process, from /proc; undefined once it is gone. */
export const processStats = (pid: number): { cpuSeconds: number; residentBytes: number; openFds: number } | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    const rss = Number(fields[21]) * PAGE_BYTES
    let fds = 0
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`).length
    } catch {
      fds = Number.NaN
    }
    return { cpuSeconds: ticks / CLOCK_TICKS, residentBytes: rss, openFds: fds }
  } catch {
    return undefined
  }
}

const family = (name: string, help: string, type: "gauge" | "counter", samples: ReadonlyArray<{ labels: Record<string, string>; value: number }>): MetricFamily => ({
  name,
  help,
  type,
  unit: undefined,
  metrics: samples.map((s) => ({ labels: s.labels, value: s.value, timestampMs: undefined, summary: undefined, histogram: undefined }))
})

export class VmMetrics extends Context.Service<VmMetrics, {
  /** Serves `source`'s metrics until the scope closes. */
  readonly register: (source: VmMetricsSource) => Effect.Effect<void, never, Scope.Scope>
  /** The whole exposition, as a scrape gets it. */
  readonly scrape: Effect.Effect<string>
  /** `http://host:port/metrics` when the service runs its own server (`layerListen`). */
  readonly url: string | undefined
}>()("@vmre/runtime/VmMetrics") {
  /** The registry and `scrape`, for a node that serves the text itself. */
  static readonly layer = (options: VmMetricsOptions = {}): Layer.Layer<VmMetrics> =>
    Layer.sync(VmMetrics, () => ({ ...make(options), url: undefined }))

  /** The same, served at `http://host:port/metrics` (default 127.0.0.1, any free port) until the layer is released. */
  static readonly layerListen = (options: ListenOptions = {}): Layer.Layer<VmMetrics, MetricsListenError> =>
    Layer.effect(
      VmMetrics,
      Effect.gen(function*() {
        const metrics = make(options)
        const run = yield* Effect.context<never>()
        const address = { host: options.host ?? "127.0.0.1", port: options.port ?? 0 }
        const { url } = yield* HttpListener.listen((req, res) => {
          if ((req.url ?? "/").split("?")[0] !== "/metrics") {
            res.writeHead(404, { "content-type": "text/plain; charset=utf-8" })
            return void res.end("404 page not found: metrics are at /metrics\n")
          }
          Effect.runPromiseWith(run)(metrics.scrape).then(
            (text) => {
              res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
              res.end(text)
            },
            (error: unknown) => {
              res.writeHead(500, { "content-type": "text/plain; charset=utf-8" })
              res.end(`${String(error)}\n`)
            }
          )
        }, address).pipe(Effect.mapError((reason) => new MetricsListenError({ ...address, reason })))
        return { ...metrics, url: `${url}/metrics` }
      })
    )
}

const make = (options: VmMetricsOptions) => {
  const sources = new Set<VmMetricsSource>()
  const gatherTimeout = options.gatherTimeout ?? Duration.seconds(2)

  const register = (source: VmMetricsSource) =>
    Effect.acquireRelease(Effect.sync(() => sources.add(source)), () => Effect.sync(() => sources.delete(source))).pipe(Effect.asVoid)

  const scrape = Effect.gen(function*() {
    const host = yield* PrometheusMetrics.format()
    const running = [...sources]
    const gathered = yield* Effect.forEach(
      running,
      (source) =>
        source.gather.pipe(
          Effect.timeoutOption(gatherTimeout),
          Effect.map(Option.getOrUndefined),
          Effect.catchCause(() => Effect.succeed(undefined))
        ),
      { concurrency: "unbounded" }
    )
    const stats = running.map((source) => ({ source, stats: processStats(source.pid) }))
    const label = (source: VmMetricsSource) => ({ chain: source.name, pid: String(source.pid) })
    const processFamilies: Array<MetricFamily> = [
      family("vmre_vm_up", "1 while the VM's process runs", "gauge", stats.map(({ source, stats }) => ({ labels: label(source), value: stats === undefined ? 0 : 1 }))),
      family("vmre_vm_gather_up", "1 if the VM answered Gather within the bound in this scrape", "gauge", running.map((source, i) => ({
        labels: label(source),
        value: gathered[i] === undefined ? 0 : 1
      }))),
      family("vmre_vm_cpu_seconds_total", "User and system CPU time of the VM's process", "counter", stats.flatMap(({ source, stats }) =>
        stats === undefined ? [] : [{ labels: label(source), value: stats.cpuSeconds }])),
      family("vmre_vm_resident_memory_bytes", "Resident memory of the VM's process", "gauge", stats.flatMap(({ source, stats }) =>
        stats === undefined ? [] : [{ labels: label(source), value: stats.residentBytes }])),
      family("vmre_vm_open_fds", "Open file descriptors of the VM's process", "gauge", stats.flatMap(({ source, stats }) =>
        stats === undefined || Number.isNaN(stats.openFds) ? [] : [{ labels: label(source), value: stats.openFds }]))
    ]
    const { text } = PrometheusText.format([
      { labels: {}, families: running.length === 0 ? [] : processFamilies },
      ...running.flatMap((source, i) => {
        const families = gathered[i]
        return families === undefined ? [] : [{ labels: { chain: source.name }, families }]
      })
    ])
    return host.endsWith("\n") || host === "" ? `${host}${text}` : `${host}\n${text}`
  })

  return { register, scrape }
}
