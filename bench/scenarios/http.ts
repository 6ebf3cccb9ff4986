/**
 * A VM's HTTP API through the node (@vmre/node HttpGateway → gRPC → the SDK's handler server in
 * the VM process), next to the same handler called directly in-process: POST of 1 KiB and of
 * 1 MiB to an echo handler, one caller, keep-alive connections, whole bodies (HandleSimple) and
 * streamed (Handle, stream: "always").
 */
import { Chain, HttpGateway, NodeConfig, NodeDatabase, NodeServices, VmFactory, VmRegistry } from "@vmre/node"
import { VmRuntime } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Effect, Layer, Logger } from "effect"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { echo } from "../fixtures/echo-handler.ts"
import { type Figure, progress, report, rounds } from "../lib/scenario.ts"
import { stat } from "../lib/stats.ts"

const started = performance.now()
const CALLS = rounds(2_000, 100)
const vmId = Ids.toString(new Uint8Array(32).fill(9))
const chainId = Ids.Id.make(new Uint8Array(32).fill(90))
const route = `/ext/bc/${Ids.toString(chainId)}/echo`
const dir = mkdtempSync(path.join(tmpdir(), "vmre-bench-http-"))
const plugin = path.join(dir, vmId)
writeFileSync(plugin, `#!/bin/sh\nexec ${process.execPath} ${fileURLToPath(new URL("../fixtures/http-vm.ts", import.meta.url))}\n`)
chmodSync(plugin, 0o755)

const sizes = [["1kib", 1024], ["1mib", 1024 * 1024]] as const

/** `calls` sequential requests of `body`; latencies in ms. */
const measure = async (send: (body: Uint8Array) => Promise<Response>, body: Uint8Array, calls: number) => {
  const check = async () => {
    const response = await send(body)
    const back = await response.arrayBuffer()
    if (response.status !== 200 || back.byteLength !== body.length) throw new Error(`echo answered ${response.status} with ${back.byteLength} bytes`)
  }
  await check() // warm-up: connections, JIT
  const latencies: Array<number> = []
  for (let i = 0; i < calls; i++) {
    const t = performance.now()
    await check()
    latencies.push(performance.now() - t)
  }
  return latencies
}

const figure = (id: string, label: string, latencies: Array<number>, bytes: number): Figure => {
  const s = stat(latencies)
  const rate = (1000 * latencies.length) / latencies.reduce((a, b) => a + b, 0)
  progress(`${id}: ${s.median.toFixed(3)} ms median, ${rate.toFixed(0)} requests/s`)
  return { id, label, unit: "ms", stat: s, note: `${rate.toFixed(0)} requests/s, ${((rate * bytes * 2) / 1024 / 1024).toFixed(1)} MiB/s both ways` }
}

const throughNode = (stream: "auto" | "always") =>
  Effect.gen(function*() {
    yield* Chain.run({ chainId, vm: vmId, config: new TextEncoder().encode(JSON.stringify({ autoPayload: null })) })
    const url = `${(yield* HttpGateway).url}${route}`
    const figures: Array<Figure> = []
    for (const [size, bytes] of sizes) {
      const body = new Uint8Array(bytes).fill(7)
      const calls = size === "1mib" ? Math.max(20, Math.floor(CALLS / 10)) : CALLS
      const latencies = yield* Effect.promise(() => measure((b) => fetch(url, { method: "POST", body: b }), body, calls))
      const mode = stream === "auto" ? "simple" : "stream"
      figures.push(figure(`http.proxy.${mode}.${size}.c1.latency`, `POST ${size} echo through the node (${mode === "simple" ? "HandleSimple" : "Handle, streamed"})`, latencies, bytes))
    }
    return figures
  }).pipe(
    Effect.scoped,
    Effect.provide(HttpGateway.layerListen({ stream }).pipe(
      Layer.provideMerge(VmFactory.layer()),
      Layer.provideMerge(VmRegistry.layer({ plugins: [{ vmId, path: plugin }] })),
      Layer.provideMerge(NodeServices.layerSingleNode),
      Layer.provideMerge(VmRuntime.layer),
      Layer.provideMerge(NodeDatabase.layerMemory),
      Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: dir })),
      Layer.provideMerge(Logger.layer([]))
    )),
    Effect.orDie
  )

const figures: Array<Figure> = []
for (const [size, bytes] of sizes) {
  const body = new Uint8Array(bytes).fill(7)
  const calls = size === "1mib" ? Math.max(20, Math.floor(CALLS / 10)) : CALLS
  const latencies = await measure((b) => echo(new Request(`http://localhost${route}`, { method: "POST", body: b })), body, calls)
  figures.push(figure(`http.direct.${size}.c1.latency`, `POST ${size} echo, the handler called in-process`, latencies, bytes))
}
figures.push(...(await Effect.runPromise(throughNode("auto"))))
figures.push(...(await Effect.runPromise(throughNode("always"))))
rmSync(dir, { recursive: true, force: true })

report({
  scenario: "http",
  figures,
  notes: [
    `${CALLS} sequential requests per 1 KiB figure (1 MiB: a tenth) after a warm-up request; fetch (undici) keep-alive client in the bench process, the VM in its own process`
  ],
  extra: {},
  wallSeconds: (performance.now() - started) / 1000
})
