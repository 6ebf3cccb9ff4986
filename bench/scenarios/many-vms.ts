/**
 * 32 VMs launched at once by one host: time until every one has answered its first
 * `Version` (median/p90 over rounds), the host's memory per VM ((RSS with 32 running −
 * RSS before) / 32), each plugin's RSS, and the helper processes our runtime starts (the
 * orphan watchdog `sh`: how many, and their RSS).
 *
 * BENCH_MANY_KIND picks the plugin: `ts` (the payload-chain example VM) or `go` (the Go
 * plugin); the runner runs both, each in a fresh host process, so that one kind's garbage
 * does not count as the other's memory.
 */
import { performance } from "node:perf_hooks"
import { progress, quick, report, rounds } from "../lib/scenario.ts"
import { children, rssMiB } from "../lib/proc.ts"
import { sleep, stat } from "../lib/stats.ts"
import { entryOf, goPlugin, hostRuntime, launch, type Launched, payloadChainBin } from "../lib/vm.ts"

const started = performance.now()
const kind = process.env.BENCH_MANY_KIND === "go" ? "go" : "ts"
const path = kind === "go" ? goPlugin : payloadChainBin
const COUNT = Number(process.env.BENCH_MANY_COUNT ?? 32)
const ROUNDS = kind === "go" ? rounds(5, 2) : rounds(3, 1)
const rt = hostRuntime({ quiet: true })

// Warm the host up with one launch, so that the baseline RSS includes the loaded code.
await (await launch(rt, { path, name: "warmup" })).close()
const gc = (globalThis as { gc?: () => void }).gc
gc?.()
await sleep(200)
const baseline = rssMiB("self")!
// RSS hardly shrinks after a GC, so its delta is a noisy view of what 32 VMs cost the host;
// the live JS heap plus off-heap buffers after a forced GC is the retained cost.
const liveMiB = () => {
  gc?.()
  const m = process.memoryUsage()
  return (m.heapUsed + m.external) / (1024 * 1024)
}
const baselineLive = liveMiB()

const allReady: Array<number> = []
const allStopped: Array<number> = []
const hostPerVm: Array<number> = []
const hostLivePerVm: Array<number> = []
const pluginRss: Array<number> = []
const watchdogRss: Array<number> = []
const watchdogCount: Array<number> = []
let entry = ""

for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now()
  const launched: Array<Launched> = await Promise.all(
    Array.from({ length: COUNT }, async (_, i) => {
      const vm = await launch(rt, { path, name: `vm${i}`, handshakeTimeout: "60 seconds" })
      await rt.runPromise(vm.client.version())
      return vm
    })
  )
  allReady.push(performance.now() - t0)
  entry = entryOf(launched[0]!.vm.pid)
  // Let start-up garbage settle before reading memory.
  await sleep(1000)
  hostPerVm.push((rssMiB("self")! - baseline) / COUNT)
  hostLivePerVm.push((liveMiB() - baselineLive) / COUNT)
  for (const vm of launched) {
    const rss = rssMiB(vm.vm.pid)
    if (rss !== undefined) pluginRss.push(rss)
  }
  const pids = new Set(launched.map((vm) => vm.vm.pid))
  // The runtime's orphan watchdogs (/bin/sh children of the host): one per VM before 98cc3cb,
  // one per host since.
  let shCount = 0
  let shRss = 0
  for (const child of children(process.pid)) {
    if (!pids.has(child.pid) && child.comm === "sh") {
      shCount++
      shRss += rssMiB(child.pid) ?? 0
    }
  }
  watchdogCount.push(shCount)
  watchdogRss.push(shRss)
  const t1 = performance.now()
  await Promise.all(launched.map((vm) => vm.close()))
  allStopped.push(performance.now() - t1)
  progress(`many-vms ${kind} round ${r + 1}/${ROUNDS}: all ${COUNT} ready in ${allReady[r]!.toFixed(0)} ms, host +${hostPerVm[r]!.toFixed(2)} MiB/VM, stopped in ${allStopped[r]!.toFixed(0)} ms`)
  gc?.()
  await sleep(500)
}
await rt.dispose()

const name = kind === "go" ? "Go plugin" : "TS example VM"
report({
  scenario: `many-vms-${kind}`,
  figures: [
    { id: `many.${kind}.allReady`, label: `${COUNT} × ${name} launched at once: until all answered Version`, unit: "ms", stat: stat(allReady) },
    { id: `many.${kind}.hostPerVm`, label: `host memory per VM ((host RSS − baseline) / ${COUNT})`, unit: "MiB", stat: stat(hostPerVm) },
    { id: `many.${kind}.hostLivePerVm`, label: `host live heap + external per VM (after GC)`, unit: "MiB", stat: stat(hostLivePerVm) },
    { id: `many.${kind}.pluginRss`, label: `${name} RSS, ${COUNT} running`, unit: "MiB", stat: stat(pluginRss) },
    { id: `many.${kind}.watchdogCount`, label: `orphan watchdog sh processes with ${COUNT} VMs running`, unit: "processes", stat: stat(watchdogCount) },
    { id: `many.${kind}.watchdogRss`, label: "their RSS, all together", unit: "MiB", stat: stat(watchdogRss) },
    { id: `many.${kind}.allStopped`, label: `${COUNT} stop sequences at once: until all exited`, unit: "ms", stat: stat(allStopped) }
  ],
  notes: [
    `plugin entry: ${entry}`,
    `host baseline RSS ${baseline.toFixed(1)} MiB (after one warm-up launch${gc === undefined ? "" : " and a GC"})`,
    ...(quick ? ["QUICK run: too few samples for figures"] : [])
  ],
  extra: { kind, count: COUNT, baselineMiB: baseline, baselineLiveMiB: baselineLive, hostLivePerVm, entry, allReady, hostPerVm, allStopped },
  wallSeconds: (performance.now() - started) / 1000
})
