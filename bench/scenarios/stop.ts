/**
 * Stopping a VM.
 * - The ChainVm stop sequence (closing the launch's scope): Shutdown RPC, close the
 *   connection, SIGTERM, wait for the exit, drain the pipes. Timed to the exit seen by the
 *   runtime and to the end of the close.
 * - Its parts, done by hand: the Shutdown round trip, then SIGTERM → exit (`vm.stop`) of a
 *   plugin that has received Shutdown (so it obeys SIGTERM, as upstream plugins do).
 * - SIGTERM → exit of a cooperative plugin that exits on SIGTERM without a Shutdown (the
 *   runtime's test fixture `plugin.ts` in its normal mode, launched with Runtime.launch).
 * For the TS example VM, the Go plugin and the fixture. The grpc-go host's own figures for
 * both plugins (shutdownMs, stopMs = SIGTERM → exit) are measured here too.
 */
import { VmRuntime } from "@vmre/runtime"
import { Effect, Exit, Scope } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { performance } from "node:perf_hooks"
import { type Figure, progress, quick, report, rounds } from "../lib/scenario.ts"
import { stat } from "../lib/stats.ts"
import { goHost, goPlugin, hostRuntime, launch, node, payloadChainBin } from "../lib/vm.ts"

const started = performance.now()
const rt = hostRuntime({ quiet: true })
const cooperative = fileURLToPath(new URL("../../packages/runtime/test/fixtures/plugin.ts", import.meta.url))

/** Runs `stop` and returns [ms until the runtime saw the exit, ms until `stop` returned]. */
const timeStop = async (exit: Effect.Effect<unknown>, stop: () => Promise<unknown>): Promise<[number, number]> => {
  let exitedAt = Number.NaN
  const t0 = performance.now()
  const watching = rt.runPromise(exit).then(() => (exitedAt = performance.now()))
  await stop()
  await watching
  return [exitedAt - t0, performance.now() - t0]
}

const sequence = async (path: string) => {
  const launched = await launch(rt, { path })
  await rt.runPromise(launched.client.version())
  return timeStop(launched.vm.exit, launched.close)
}

const byHand = async (path: string) => {
  const launched = await launch(rt, { path })
  await rt.runPromise(launched.client.version())
  const t0 = performance.now()
  await rt.runPromise(launched.client.shutdown())
  const shutdownMs = performance.now() - t0
  const [exitMs, stopMs] = await timeStop(launched.vm.exit, () => rt.runPromise(launched.vm.stop))
  await launched.close()
  return { shutdownMs, exitMs, stopMs }
}

const coop = async () => {
  const scope = await rt.runPromise(Scope.make())
  const vm = await rt.runPromise(Scope.provide(
    Effect.flatMap(VmRuntime, (runtime) => runtime.launch({ path: node, args: [cooperative], name: "cooperative" })),
    scope
  ))
  const result = await timeStop(vm.exit, () => rt.runPromise(vm.stop))
  await rt.runPromise(Scope.close(scope, Exit.void))
  return result
}

const figures: Array<Figure> = []
for (const [kind, path, n] of [["ts", payloadChainBin, rounds(8, 2)], ["go", goPlugin, rounds(20, 3)]] as const) {
  const seq: Array<[number, number]> = []
  const hand: Array<{ shutdownMs: number; exitMs: number; stopMs: number }> = []
  await byHand(path) // warm-up
  for (let i = 0; i < n; i++) {
    seq.push(await sequence(path))
    hand.push(await byHand(path))
  }
  const name = kind === "ts" ? "TS example VM" : "Go plugin"
  figures.push(
    { id: `stop.${kind}.sequence.exit`, label: `${name}: stop sequence, close → exit seen`, unit: "ms", stat: stat(seq.map((s) => s[0])) },
    { id: `stop.${kind}.sequence.done`, label: `${name}: stop sequence, close → close done (pipes drained)`, unit: "ms", stat: stat(seq.map((s) => s[1])) },
    { id: `stop.${kind}.shutdown`, label: `${name}: Shutdown round trip`, unit: "ms", stat: stat(hand.map((s) => s.shutdownMs)) },
    { id: `stop.${kind}.sigterm.exit`, label: `${name}: after Shutdown, SIGTERM → exit seen`, unit: "ms", stat: stat(hand.map((s) => s.exitMs)) },
    { id: `stop.${kind}.sigterm.done`, label: `${name}: after Shutdown, SIGTERM → stop done`, unit: "ms", stat: stat(hand.map((s) => s.stopMs)) }
  )
  progress(`stop ${kind}: sequence ${stat(seq.map((s) => s[1])).median.toFixed(1)} ms, SIGTERM → exit ${stat(hand.map((s) => s.exitMs)).median.toFixed(1)} ms`)
}
const coops: Array<[number, number]> = []
await coop() // warm-up
for (let i = 0; i < rounds(8, 2); i++) coops.push(await coop())
figures.push(
  { id: "stop.coop.sigterm.exit", label: "cooperative fixture plugin: SIGTERM → exit seen", unit: "ms", stat: stat(coops.map((s) => s[0])) },
  { id: "stop.coop.sigterm.done", label: "cooperative fixture plugin: SIGTERM → stop done", unit: "ms", stat: stat(coops.map((s) => s[1])) }
)
await rt.dispose()

// The grpc-go host's own stop of the same plugins: its Shutdown round trip and SIGTERM → exit.
const goHostRun = (plugin: string): Promise<{ shutdownMs: number; stopMs: number }> =>
  new Promise((resolve, reject) => {
    execFile(goHost, [plugin], (error, stdout, stderr) => {
      if (error !== null) return reject(new Error(`go host failed: ${error.message}\n${stderr}`))
      resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "{}"))
    })
  })
for (const [kind, path, n] of [["go", goPlugin, rounds(12, 3)], ["ts", payloadChainBin, rounds(5, 1)]] as const) {
  const runs: Array<{ shutdownMs: number; stopMs: number }> = []
  for (let i = 0; i < n; i++) runs.push(await goHostRun(path))
  const name = kind === "ts" ? "TS example VM" : "Go plugin"
  figures.push(
    { id: `stop.goHost.${kind}.shutdown`, label: `grpc-go host, ${name}: Shutdown round trip`, unit: "ms", stat: stat(runs.map((r) => r.shutdownMs)) },
    { id: `stop.goHost.${kind}.sigterm`, label: `grpc-go host, ${name}: SIGTERM → exit`, unit: "ms", stat: stat(runs.map((r) => r.stopMs)) }
  )
}

report({
  scenario: "stop",
  figures,
  notes: [
    ...(quick ? ["QUICK run: too few samples for figures"] : [])
  ],
  extra: {},
  wallSeconds: (performance.now() - started) / 1000
})
