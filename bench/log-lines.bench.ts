// Throughput of the plugin log pipeline (split → detect → LogRecord) over 1,000,000 lines of
// ~80 bytes in 64 KiB chunks, one chunk per pull (as a child's pipe delivers them).
// Run: npx node bench/log-lines.bench.ts
import { Effect, Stream } from "effect"
import { detectLevel, LineSplitter, records } from "../packages/runtime/src/PluginLog.ts"

const LINES = 1_000_000
const CHUNK = 64 * 1024
const RUNS = 5

// A realistic mix: avalanchego/coreth console, go-hclog, hclog JSON, plain text.
const makeLine = (i: number): string => {
  switch (i % 8) {
    case 0:
      return `INFO [11-27|04:50:00.${String(i % 1000).padStart(3, "0")}] <C Chain> core/blockchain.go:1820 Inserted block n=${i}`
    case 1:
      return `[11-27|04:50:00.000] DEBUG vm/handler.go:${i % 1000} processed request id=${i} dur=1.2ms status=ok`
    case 2:
      return `2026-11-27T04:50:00.000Z [WARN]  plugin.vm: slow peer response: peer=NodeID-${i} took=2.1s`
    case 3:
      return `{"@level":"info","@message":"accepted block","@timestamp":"2026-11-27T04:50:00Z","h":${i}}`
    case 4:
      return `[11-27|04:50:00.000] ERROR vm/x.go:12 failed to gossip tx=0x${i.toString(16)} err="timeout"`
    default:
      return `user message number ${i} mentions ERROR here but is plain text, padded to ~80 bytes.`
  }
}

const lines: Array<string> = []
for (let i = 0; i < LINES; i++) lines.push(makeLine(i))
const data = Buffer.from(lines.join("\n") + "\n")
const chunks: Array<Uint8Array> = []
for (let o = 0; o < data.length; o += CHUNK) chunks.push(data.subarray(o, Math.min(o + CHUNK, data.length)))
console.log(
  `${LINES} lines, ${(data.length / 1e6).toFixed(1)} MB (${(data.length / LINES).toFixed(1)} B/line), ` +
    `${chunks.length} chunks of ${CHUNK} B, Node ${process.version}`
)

const endToEnd = Effect.gen(function*() {
  let count = 0
  let errors = 0
  yield* Stream.fromIterable(chunks, { chunkSize: 1 }).pipe(
    records("stderr"),
    Stream.runForEachArray((batch) =>
      Effect.sync(() => {
        count += batch.length
        for (const r of batch) if (r.level === "Error") errors++
      })
    )
  )
  return { count, errors }
})

const coreOnly = (): number => {
  const splitter = new LineSplitter()
  let count = 0
  for (const chunk of chunks) {
    for (const line of splitter.push(chunk)) {
      detectLevel(line, "stderr")
      count++
    }
  }
  return count + splitter.end().length
}

const measure = async (name: string, run: () => Promise<number> | number): Promise<void> => {
  const rates: Array<number> = []
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now()
    const n = await run()
    const ms = performance.now() - t0
    if (n !== LINES) throw new Error(`${name}: expected ${LINES} lines, got ${n}`)
    rates.push(n / (ms / 1000))
  }
  rates.sort((a, b) => a - b)
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US")
  console.log(`${name}: median ${fmt(rates[RUNS >> 1]!)} lines/s (min ${fmt(rates[0]!)}, max ${fmt(rates[RUNS - 1]!)})`)
}

await measure("end to end (Stream → records)", async () => {
  const { count, errors } = await Effect.runPromise(endToEnd)
  if (errors !== LINES / 8) throw new Error(`expected ${LINES / 8} Error lines, got ${errors}`)
  return count
})
await measure("core (LineSplitter + detectLevel, no Effect)", coreOnly)
