/**
 * `npm run bench [-- <scenario>... ] [--quick] [--profile] [--verbose]`
 *
 * Runs each scenario in its own Node process (so that one scenario's heap, JIT state or
 * leftover children cannot colour another's figures), prints one table, checks the targets,
 * and writes bench/results/latest.json (or profile.json with --profile).
 *
 * Scenarios: cold-start, unary, many-vms (= many-vms-ts + many-vms-go), log-flood, stop, compression, callbacks, http.
 * --quick      few rounds: to try the harness, not for figures
 * --profile    also write CPU profiles (host: --cpu-prof; TS plugins: NODE_OPTIONS) under
 *              bench/results/profiles/<scenario>/ and print their top self-time functions;
 *              the profiler slows everything down, so the figures are not comparable
 * --verbose    echo every line the scenarios write, not only their progress
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { collect, format, summarize } from "./lib/cpuprofile.ts"
import { machineBusySeconds, machineLoad, treeCpuSeconds } from "./lib/proc.ts"
import type { Figure, ScenarioResult } from "./lib/scenario.ts"
import { fmt, MiB } from "./lib/stats.ts"

if (Number(process.versions.node.split(".")[0]) < 22) {
  console.error(`the benchmarks need Node >= 22 but this is ${process.version}: run them with npm run bench`)
  process.exit(2)
}

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const resultsDir = path.join(here, "results")

// The grpc-go baselines: build interop/go when its inputs changed (~40 ms when up to date), so
// that `npm ci && npm run bench` works on a clean clone.
try {
  execFileSync("bash", [path.join(root, "interop/go/build.sh")], { stdio: "inherit", timeout: 300_000 })
} catch {
  console.error("interop/go/build.sh failed: install the Go toolchain with `bash interop/go/install-deps.sh`")
  process.exit(2)
}

interface ScenarioSpec {
  readonly name: string
  readonly file: string
  readonly env?: Record<string, string>
  readonly nodeArgs?: ReadonlyArray<string>
}

const scenarios: ReadonlyArray<ScenarioSpec> = [
  { name: "cold-start", file: "scenarios/cold-start.ts" },
  { name: "unary", file: "scenarios/unary.ts" },
  { name: "many-vms-ts", file: "scenarios/many-vms.ts", env: { BENCH_MANY_KIND: "ts" }, nodeArgs: ["--expose-gc"] },
  { name: "many-vms-go", file: "scenarios/many-vms.ts", env: { BENCH_MANY_KIND: "go" }, nodeArgs: ["--expose-gc"] },
  { name: "log-flood", file: "scenarios/log-flood.ts" },
  { name: "stop", file: "scenarios/stop.ts" },
  { name: "compression", file: "scenarios/compression.ts" },
  { name: "callbacks", file: "scenarios/callbacks.ts" },
  { name: "http", file: "scenarios/http.ts" },
  { name: "bootstrap", file: "scenarios/bootstrap.ts" }
]

// --- arguments ---------------------------------------------------------------------------
const args = process.argv.slice(2)
const flags = new Set(args.filter((a) => a.startsWith("--")))
const wanted = args.filter((a) => !a.startsWith("--"))
for (const flag of flags) {
  if (!["--quick", "--profile", "--verbose"].includes(flag)) {
    console.error(`unknown option ${flag} (known: --quick --profile --verbose)`)
    process.exit(2)
  }
}
const selected = wanted.length === 0 || wanted.includes("all") ?
  scenarios :
  scenarios.filter((s) => wanted.some((w) => s.name === w || s.name.startsWith(`${w}-`)))
const unknown = wanted.filter((w) => w !== "all" && !scenarios.some((s) => s.name === w || s.name.startsWith(`${w}-`)))
if (unknown.length > 0 || selected.length === 0) {
  console.error(`unknown scenario ${unknown.join(", ")}; known: all, ${scenarios.map((s) => s.name).join(", ")}, many-vms`)
  process.exit(2)
}
const quick = flags.has("--quick")
const profile = flags.has("--profile")
const verbose = flags.has("--verbose")

// --- running a scenario ------------------------------------------------------------------
interface Ran {
  readonly spec: ScenarioSpec
  readonly result?: ScenarioResult | undefined
  readonly error?: string | undefined
  readonly seconds: number
  readonly loadBefore: number
  readonly loadAfter: number
  /** CPU used by the scenario's process tree, and by everything else on the machine, in cores. */
  readonly ourCores: number
  readonly otherCores: number
  readonly profiles?: string | undefined
}

const runScenario = (spec: ScenarioSpec): Promise<Ran> => {
  mkdirSync(path.join(resultsDir, "logs"), { recursive: true })
  const out = path.join(resultsDir, `.${spec.name}.json`)
  rmSync(out, { force: true })
  const logFile = path.join(resultsDir, "logs", `${spec.name}.log`)
  const log: Array<string> = []
  const env: Record<string, string | undefined> = { ...process.env, ...spec.env, BENCH_OUT: out }
  if (quick) env.BENCH_QUICK = "1"
  const nodeArgs = [...(spec.nodeArgs ?? [])]
  let profiles: string | undefined
  if (profile) {
    profiles = path.join(resultsDir, "profiles", spec.name)
    rmSync(profiles, { recursive: true, force: true })
    mkdirSync(path.join(profiles, "host"), { recursive: true })
    mkdirSync(path.join(profiles, "plugin"), { recursive: true })
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${path.join(profiles, "host")}`)
    env.BENCH_PLUGIN_NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${path.join(profiles, "plugin")}`
  }
  const loadBefore = machineLoad()
  const busy0 = machineBusySeconds()
  const tree0 = treeCpuSeconds()
  const t0 = performance.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, path.join(here, spec.file)], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const onLine = (line: string) => {
      log.push(line)
      if (verbose || line.startsWith("[bench]")) process.stderr.write(`  ${line}\n`)
    }
    let rest = ""
    const split = (chunk: Buffer) => {
      const text = rest + chunk.toString("utf8")
      const lines = text.split("\n")
      rest = lines.pop() ?? ""
      lines.forEach(onLine)
    }
    child.stdout.on("data", split)
    child.stderr.on("data", split)
    child.on("close", (code, signal) => {
      if (rest !== "") onLine(rest)
      writeFileSync(logFile, log.join("\n") + "\n")
      const seconds = (performance.now() - t0) / 1000
      const ours = treeCpuSeconds() - tree0
      const others = machineBusySeconds() - busy0 - ours
      const done = {
        spec,
        seconds,
        loadBefore,
        loadAfter: machineLoad(),
        ourCores: ours / seconds,
        otherCores: Math.max(0, others / seconds),
        profiles
      }
      try {
        const result = JSON.parse(readFileSync(out, "utf8")) as ScenarioResult
        rmSync(out, { force: true })
        resolve({ ...done, result })
      } catch {
        resolve({ ...done, error: `exited with ${signal ?? code} and no result; see ${path.relative(root, logFile)}` })
      }
    })
  })
}

// --- the machine -------------------------------------------------------------------------
const git = (...gitArgs: Array<string>): string => {
  try {
    return execFileSync("git", gitArgs, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return ""
  }
}
const machine = {
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? "?",
  memoryGiB: Math.round(os.totalmem() / (1024 * MiB)),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  loadAverageAtStart: machineLoad()
}
const commit = git("rev-parse", "--short", "HEAD")
// Others may be editing the code measured: record what differed from the commit.
const dirty = git("status", "--porcelain", "--", "packages", "examples", "interop").split("\n").filter((l) => l !== "")

// --- run -----------------------------------------------------------------------------------
const started = performance.now()
process.stderr.write(
  `vmre bench: ${selected.map((s) => s.name).join(", ")}${quick ? " (quick)" : ""}${profile ? " (profiling)" : ""}\n` +
    `  ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, load ${machine.loadAverageAtStart}\n`
)
const ran: Array<Ran> = []
for (const spec of selected) {
  process.stderr.write(`\n▶ ${spec.name}\n`)
  const r = await runScenario(spec)
  process.stderr.write(
    `  ${r.error === undefined ? "done" : `FAILED: ${r.error}`} in ${r.seconds.toFixed(1)} s ` +
      `(CPU: this scenario ${r.ourCores.toFixed(2)} cores, other processes ${r.otherCores.toFixed(2)} cores)\n`
  )
  ran.push(r)
}
const wallSeconds = (performance.now() - started) / 1000

// --- targets ---------------------------------------------------------------------------------
const figures = new Map<string, Figure>()
for (const r of ran) for (const f of r.result?.figures ?? []) figures.set(f.id, f)
const median = (id: string): number | undefined => figures.get(id)?.stat.median

interface TargetResult {
  readonly target: string
  readonly value: string
  readonly limit: string
  readonly verdict: "PASS" | "MISS" | "n/a"
}
const target = (
  name: string,
  value: number | undefined,
  limit: number | undefined,
  unit: string,
  better: "lower" | "higher",
  show: (x: number) => string = fmt
): TargetResult => {
  if (value === undefined || limit === undefined || !Number.isFinite(value) || !Number.isFinite(limit)) {
    return { target: name, value: "-", limit: limit === undefined ? "-" : `${show(limit)} ${unit}`, verdict: "n/a" }
  }
  const pass = better === "lower" ? value <= limit : value >= limit
  return {
    target: name,
    value: `${show(value)} ${unit}`,
    limit: `${better === "lower" ? "≤" : "≥"} ${show(limit)} ${unit}`,
    verdict: pass ? "PASS" : "MISS"
  }
}
const goHostFirst = median("cold.goHost.go.firstReply")
const peak = median("log.host.peakDelta")
const peakQuarter = median("log.host.peakDeltaQuarter")
const ratio = (id: string, factor: number) => {
  const m = median(id)
  return m === undefined ? undefined : m * factor
}
const plus = (id: string, more: number) => {
  const m = median(id)
  return m === undefined ? undefined : m + more
}
const targets: Array<TargetResult> = [
  // The performance issue's targets: ratios within one run.
  target(
    "TS example VM: spawn → first reply ≤ 2.5 × a bare node's start",
    median("cold.ts.firstReply"),
    ratio("cold.node.bare", 2.5),
    "ms",
    "lower"
  ),
  target("TS example VM: idle RSS ≤ an idle node's + 16 MiB", median("cold.ts.idleRss"), plus("cold.node.idleRss", 16), "MiB", "lower"),
  // The same VM shipped as `vmre pack` makes it (single executable, start-up snapshot).
  target(
    "TS example VM packed (start-up snapshot): spawn → first reply ≤ 2.5 × a bare node's start",
    median("cold.packed.firstReply"),
    ratio("cold.node.bare", 2.5),
    "ms",
    "lower"
  ),
  target(
    "TS example VM packed (start-up snapshot): idle RSS ≤ an idle node's + 16 MiB",
    median("cold.packed.idleRss"),
    plus("cold.node.idleRss", 16),
    "MiB",
    "lower"
  ),
  target(
    "our host + Go plugin: spawn → first reply ≤ 2 × grpc-go host's",
    median("cold.go.firstReply"),
    goHostFirst === undefined ? undefined : 2 * goHostFirst,
    "ms",
    "lower"
  ),
  target(
    "typed client → TS VM, Version, 16 callers ≥ the bare grpc-js pair",
    median("unary.ts.typed.Version.c16.rate"),
    median("unary.bareGrpcJs.grpcjs.Version.c16.rate"),
    "calls/s",
    "higher"
  ),
  target(
    "typed client → TS VM, Version, 1 caller ≤ the bare grpc-js pair",
    median("unary.ts.typed.Version.c1.latency"),
    median("unary.bareGrpcJs.grpcjs.Version.c1.latency"),
    "ms",
    "lower"
  ),
  target(
    "typed client → Go plugin, Version, 16 callers ≥ 0.9 × grpc-js → Go plugin",
    median("unary.go.typed.Version.c16.rate"),
    ratio("unary.go.grpcjs.Version.c16.rate", 0.9),
    "calls/s",
    "higher"
  ),
  target(
    "typed client → TS VM, BlockVerify 1 MiB, 1 caller ≤ grpc-js's",
    median("unary.ts.typed.BlockVerify.1MiB.c1.latency"),
    median("unary.ts.grpcjs.BlockVerify.1MiB.c1.latency"),
    "ms",
    "lower"
  ),
  target(
    "typed client → TS VM, ParseBlock 1 MiB, 1 caller ≤ grpc-js's",
    median("unary.ts.typed.ParseBlock.1MiB.c1.latency"),
    median("unary.ts.grpcjs.ParseBlock.1MiB.c1.latency"),
    "ms",
    "lower"
  ),
  target("log forwarding (median rate)", median("log.host.rate"), 500_000, "lines/s", "higher"),
  // Bounded: the peak does not grow with the number of lines (1 M lines vs a quarter), and
  // stays below the data volume (~85 MB for 1 M lines).
  target(
    "log forwarding: host peak RSS bounded (≤ quarter-run peak + 16 MiB, ≤ 64 MiB)",
    peak,
    peakQuarter === undefined ? undefined : Math.min(64, peakQuarter + 16),
    "MiB",
    "lower"
  )
]

// --- print -----------------------------------------------------------------------------------
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length))
const padLeft = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s)
const lines: Array<string> = []
lines.push(
  `vmre bench — ${new Date().toISOString()} — ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}, commit ${commit}` +
    (dirty.length > 0 ? ` + ${dirty.length} uncommitted change(s) under packages/examples` : "")
)
for (const r of ran) {
  lines.push("")
  lines.push(
    `## ${r.spec.name} (${r.seconds.toFixed(0)} s; CPU used by this scenario ${r.ourCores.toFixed(2)} cores, ` +
      `by other processes ${r.otherCores.toFixed(2)} of ${machine.cores})`
  )
  if (r.result === undefined) {
    lines.push(`  FAILED: ${r.error}`)
    continue
  }
  lines.push(`  ${pad("figure", 86)} ${padLeft("median", 10)} ${padLeft("p90", 10)}  unit`)
  for (const f of r.result.figures) {
    lines.push(
      `  ${pad(f.label, 86)} ${padLeft(fmt(f.stat.median), 10)} ${padLeft(fmt(f.stat.p90), 10)}  ${f.unit}` +
        (f.note === undefined ? "" : `  (${f.note})`)
    )
  }
  for (const note of r.result.notes) lines.push(`  • ${note}`)
}
lines.push("")
lines.push("## targets")
for (const t of targets) lines.push(`  ${pad(t.verdict, 5)} ${pad(t.target, 78)} ${padLeft(t.value, 16)}  (${t.limit})`)
lines.push("")
lines.push(`whole run: ${wallSeconds.toFixed(0)} s`)
const table = lines.join("\n")
process.stdout.write(`\n${table}\n`)

// --- profiles ----------------------------------------------------------------------------------
const profileSummaries: Record<string, unknown> = {}
if (profile) {
  const texts: Array<string> = []
  for (const r of ran) {
    if (r.profiles === undefined) continue
    for (const side of ["host", "plugin"] as const) {
      const files = collect([path.join(r.profiles, side)])
      if (files.length === 0) continue
      const summary = summarize(files, 20)
      profileSummaries[`${r.spec.name}/${side}`] = summary
      texts.push(format(`${r.spec.name} / ${side}`, summary))
      // A plugin's start-up on its own: the first part of each profile, up to about when
      // the runtime saw its handshake.
      const startup = r.spec.name === "cold-start" && side === "plugin" ?
        r.result?.figures.find((f) => f.id === "cold.ts.spawnToReady")?.stat.median :
        undefined
      if (startup !== undefined) {
        const early = summarize(files, 25, startup)
        profileSummaries[`${r.spec.name}/${side}/startup`] = early
        texts.push(format(`${r.spec.name} / ${side}, first ${startup.toFixed(0)} ms of each (start-up to handshake)`, early))
      }
    }
  }
  const text = texts.join("\n\n")
  writeFileSync(path.join(resultsDir, "profiles", "summary.txt"), text + "\n")
  process.stdout.write(`\n## profiles (bench/results/profiles/)\n${text}\n`)
}

// --- JSON --------------------------------------------------------------------------------------
mkdirSync(resultsDir, { recursive: true })
const entry = ran.map((r) => r.result?.extra.entry).find((e) => typeof e === "string")
const document = {
  date: new Date().toISOString(),
  quick,
  profile,
  machine,
  commit,
  uncommitted: dirty,
  pluginEntry: entry,
  wallSeconds,
  targets,
  scenarios: ran.map((r) => ({
    name: r.spec.name,
    seconds: r.seconds,
    loadBefore: r.loadBefore,
    loadAfter: r.loadAfter,
    ourCores: r.ourCores,
    otherCores: r.otherCores,
    error: r.error,
    ...r.result
  })),
  profiles: profileSummaries,
  table
}
const outFile = path.join(resultsDir, profile ? "profile.json" : quick ? "quick.json" : "latest.json")
const text = JSON.stringify(document, null, 2) + "\n"
writeFileSync(outFile, text)
// Every run is also kept under results/runs/, so a subset run does not lose the last full one.
const history = path.join(resultsDir, "runs", `${document.date.replace(/[:.]/g, "-")}-${selected.map((s) => s.name).join("+")}${quick ? "-quick" : ""}${profile ? "-profile" : ""}.json`)
mkdirSync(path.dirname(history), { recursive: true })
writeFileSync(history, text)
process.stdout.write(`\nwrote ${path.relative(root, outFile)} and ${path.relative(root, history)}\n`)
process.exitCode = ran.some((r) => r.error !== undefined) ? 1 : 0
