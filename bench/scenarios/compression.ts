/**
 * gzip on the block path: a 1 MiB GetBlock answer between the host's typed client and a vm.VM
 * server on GrpcServer, without compression (the default, as the Go nodes) and with
 * `compression: "gzip"` on both sides. Block bytes are random (hashes and signatures do not
 * compress), the case that costs CPU for nothing; a repeated-byte block shows the best case.
 */
import { VM } from "@vmre/proto/vm/vm_pb"
import { ChainVm, Id } from "@vmre/runtime"
import { GrpcServer } from "@vmre/transport"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import { performance } from "node:perf_hooks"
import { type Figure, progress, report, rounds } from "../lib/scenario.ts"
import { stat } from "../lib/stats.ts"

const started = performance.now()
const MiB = 1024 * 1024
const CALLS = rounds(60, 8)

const measure = (compression: "identity" | "gzip", block: Uint8Array) =>
  Effect.gen(function*() {
    const server = yield* GrpcServer.serve((router) =>
      router.service(VM, {
        getBlock: () => ({ parentId: new Uint8Array(32), bytes: block, height: 1n, timestamp: { seconds: 1_700_000_000n, nanos: 0 } })
      }), { compression })
    const client = yield* ChainVm.make({ address: server.address, compression })
    const id = Id.make(new Uint8Array(32))
    yield* client.getBlock(id) // warm-up: connection, JIT
    const latencies: Array<number> = []
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now()
      const got = yield* client.getBlock(id)
      latencies.push(performance.now() - t0)
      if (got.bytes.length !== block.length) throw new Error("short block")
    }
    const cpu = process.cpuUsage(cpu0)
    return { latencies, cpuPerCallMs: (cpu.user + cpu.system) / 1000 / CALLS }
  }).pipe(Effect.scoped, Effect.orDie)

const random = new Uint8Array(randomBytes(MiB))
const repeated = new Uint8Array(MiB).fill(7)
const figures: Array<Figure> = []
for (const [kind, block] of [["random", random], ["repeated", repeated]] as const) {
  for (const compression of ["identity", "gzip"] as const) {
    const result = await Effect.runPromise(measure(compression, block))
    progress(`compression ${kind} ${compression}: ${stat(result.latencies).median.toFixed(2)} ms median`)
    figures.push({
      id: `compression.${compression}.getBlock1MiB.${kind}`,
      label: `1 MiB GetBlock (${kind} bytes), ${compression === "gzip" ? "gzip on both sides" : "no compression (default)"}: latency`,
      unit: "ms",
      stat: stat(result.latencies),
      note: `CPU/call (client and server, one process) ${result.cpuPerCallMs.toFixed(2)} ms`
    })
  }
}

report({
  scenario: "compression",
  figures,
  notes: [`${CALLS} calls per cell after a warm-up call; client and server in one process`],
  extra: {},
  wallSeconds: (performance.now() - started) / 1000
})
