/**
 * A 10,000-block bootstrap, as a node catches a chain up: blocks/s, for the TS example VM and
 * the Go plugin, each way:
 *
 * - `fromMemory`: our host applies blocks held in memory (a peer's answers already received):
 *   `Bootstrap.run` through a `BlockState` — one BatchedParseBlock per 2,000 blocks, then
 *   BlockVerify and BlockAccept of each. The same work as the grpc-go host's `-bootstrap`.
 * - `goHost`: the grpc-go host (interop/go, as the Go nodes drive a VM) applying the same blocks
 *   from a file the same way.
 * - `fromPeer`: our host fetches them from a peer VM that has them (GetAncestors batches) and
 *   applies them: the whole bootstrap, both VMs in their own processes.
 * - `oneByOne`: ParseBlock, BlockVerify and BlockAccept of each block, no batching and no cache:
 *   what the batched calls and the cache save.
 */
import { Bootstrap, type BootstrapSource, BlockState } from "@vmre/node"
import type { ChainVmClient, LastAccepted } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { DateTime, Effect, Exit, Scope } from "effect"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { type Figure, progress, report, rounds } from "../lib/scenario.ts"
import { stat } from "../lib/stats.ts"
import { configBytes, genesisBytes, goHost, goPlugin, hostRuntime, initializeWithMemoryDb, launch, makeBlock, payloadChainBin } from "../lib/vm.ts"

const started = performance.now()
const BLOCKS = rounds(10_000, 500)
const rt = hostRuntime({ quiet: true })
const dir = mkdtempSync(path.join(tmpdir(), "vmre-bench-bootstrap-"))
const sha256 = (bytes: Uint8Array) => Ids.Id.make(new Uint8Array(createHash("sha256").update(bytes).digest()))

interface Kind {
  readonly name: "ts" | "go"
  readonly label: string
  readonly plugin: string
  readonly genesisBytes: Uint8Array
  readonly configBytes: Uint8Array
  /** The chain of blocks on top of `genesis`, oldest first. */
  readonly chain: (genesis: LastAccepted) => Array<{ readonly id: Ids.Id; readonly bytes: Uint8Array }>
}

const kinds: ReadonlyArray<Kind> = [
  {
    name: "ts",
    label: "TS example VM",
    plugin: payloadChainBin,
    genesisBytes,
    configBytes,
    chain: (genesis) => {
      const out = []
      let parent = { id: genesis.id as Uint8Array, height: genesis.height, timestampMillis: DateTime.toEpochMillis(genesis.timestamp) }
      for (let i = 0; i < BLOCKS; i++) {
        const bytes = makeBlock(parent, 256, i)
        const id = sha256(bytes)
        out.push({ id, bytes })
        parent = { id, height: parent.height + 1n, timestampMillis: parent.timestampMillis + 1000 }
      }
      return out
    }
  },
  {
    name: "go",
    label: "Go plugin",
    plugin: goPlugin,
    genesisBytes: new TextEncoder().encode("vmre bench genesis"),
    configBytes: new Uint8Array(0),
    // The Go plugin's blocks: parent || height || unix seconds || payload; id = sha256.
    chain: (genesis) => {
      const out = []
      let parent = genesis.id as Uint8Array
      const seconds = BigInt(Math.floor(DateTime.toEpochMillis(genesis.timestamp) / 1000))
      for (let i = 0; i < BLOCKS; i++) {
        const payload = new TextEncoder().encode(`bench block ${i + 1}`.padEnd(200, "."))
        const bytes = new Uint8Array(48 + payload.length)
        bytes.set(parent, 0)
        new DataView(bytes.buffer).setBigUint64(32, genesis.height + BigInt(i + 1))
        new DataView(bytes.buffer).setBigUint64(40, seconds)
        bytes.set(payload, 48)
        const id = sha256(bytes)
        out.push({ id, bytes })
        parent = id
      }
      return out
    }
  }
]

/** A fresh VM of `kind`, initialized on an empty database, in bootstrapping state. */
const freshVm = async (kind: Kind, scope: Scope.Closeable) => {
  const launched = await launch(rt, { path: kind.plugin, name: `bootstrap-${kind.name}` })
  await rt.runPromise(Scope.addFinalizer(scope, Effect.promise(launched.close)))
  const genesis = await rt.runPromise(Scope.provide(
    initializeWithMemoryDb(launched.client, { genesisBytes: kind.genesisBytes, configBytes: kind.configBytes }),
    launched.scope
  ))
  await rt.runPromise(launched.client.setState("Bootstrapping"))
  return { client: launched.client, genesis }
}

/** A peer that has already sent us its blocks: GetAncestors answered from memory. */
const memorySource = (blocks: ReadonlyArray<{ readonly id: Ids.Id; readonly bytes: Uint8Array }>): BootstrapSource => {
  const index = new Map(blocks.map((b, i) => [Ids.toHex(b.id), i]))
  return {
    getAncestors: (params) =>
      Effect.sync(() => {
        const at = index.get(Ids.toHex(params.blkId))
        if (at === undefined) return []
        const out: Array<Uint8Array> = []
        for (let i = at; i >= 0 && out.length < params.maxBlocksNum; i--) out.push(blocks[i]!.bytes)
        return out
      })
  }
}

const timed = async <A>(run: () => Promise<A>): Promise<{ readonly value: A; readonly seconds: number }> => {
  const t0 = performance.now()
  const value = await run()
  return { value, seconds: (performance.now() - t0) / 1000 }
}

const figure = (id: string, label: string, blocks: number, seconds: number, note: string): Figure => {
  const rate = blocks / seconds
  progress(`${id}: ${rate.toFixed(0)} blocks/s (${blocks} blocks in ${seconds.toFixed(2)} s)`)
  return { id, label, unit: "blocks/s", stat: stat([rate]), note: `${blocks} blocks in ${seconds.toFixed(2)} s; ${note}` }
}

const runGoHost = (kind: Kind, file: string) =>
  new Promise<{ blocks: number; ms: number; blocksPerSec: number }>((resolve, reject) => {
    const genesisFile = path.join(dir, `${kind.name}-genesis`)
    const configFile = path.join(dir, `${kind.name}-config`)
    writeFileSync(genesisFile, kind.genesisBytes)
    writeFileSync(configFile, kind.configBytes)
    execFile(goHost, ["-exercise", "-genesis", genesisFile, "-config", configFile, "-bootstrap", file, "-call-timeout", "60s", kind.plugin], {
      maxBuffer: 256 * 1024 * 1024,
      env: {}
    }, (error, stdout, stderr) => {
      const line = stdout.trim().split("\n").at(-1) ?? ""
      try {
        const result = JSON.parse(line)
        if (result.ok !== true || result.bootstrap === undefined) throw new Error(`${result.stage}: ${result.error}`)
        resolve(result.bootstrap)
      } catch (e) {
        reject(new Error(`the Go host failed: ${e instanceof Error ? e.message : String(e)} ${error?.message ?? ""} ${stderr.slice(-2000)}`))
      }
    })
  })

const figures: Array<Figure> = []
const onlyKind = process.env.BENCH_BOOTSTRAP_KIND // "ts" or "go", to profile one kind
for (const kind of kinds.filter((k) => onlyKind === undefined || k.name === onlyKind)) {
  const scope = await rt.runPromise(Scope.make())
  try {
    // Applied from memory through the node's block cache.
    const first = await freshVm(kind, scope)
    const chain = kind.chain(first.genesis)
    const tip = chain.at(-1)!.id
    const state = BlockState.make(first.client, first.genesis)
    const memory = await timed(() => rt.runPromise(Bootstrap.run(state, memorySource(chain), { tip })))
    figures.push(figure(`bootstrap.${kind.name}.typed.fromMemory.blocksPerSec`, `${kind.label}: blocks held in memory applied by our host (BatchedParseBlock per 2,000, verify + accept each)`, memory.value.accepted, memory.seconds, `${memory.value.batches} batches`))

    // The same blocks applied by the grpc-go host.
    const file = path.join(dir, `${kind.name}-blocks`)
    writeFileSync(file, Buffer.concat(chain.map((b) => {
      const head = Buffer.alloc(4)
      head.writeUInt32BE(b.bytes.length)
      return Buffer.concat([head, b.bytes])
    })))
    const go = await runGoHost(kind, file)
    figures.push(figure(`bootstrap.${kind.name}.goHost.blocksPerSec`, `${kind.label}: the same blocks applied by the grpc-go host (-bootstrap, the same calls)`, go.blocks, go.ms / 1000, "BatchedParseBlock per 2,000, verify + accept each"))

    // Fetched from the first VM (a peer that has them) and applied.
    const second = await freshVm(kind, scope)
    const fromPeer = await timed(() =>
      rt.runPromise(Bootstrap.run(BlockState.make(second.client, second.genesis), first.client satisfies ChainVmClient, { tip })))
    figures.push(figure(`bootstrap.${kind.name}.typed.fromPeer.blocksPerSec`, `${kind.label}: fetched from a peer VM (GetAncestors) and applied, our host`, fromPeer.value.accepted, fromPeer.seconds, `${fromPeer.value.batches} GetAncestors + BatchedParseBlock batches`))

    // One block at a time, no batch, no cache.
    const third = await freshVm(kind, scope)
    const oneByOne = await timed(() =>
      rt.runPromise(Effect.forEach(chain, (b) =>
        Effect.gen(function*() {
          const block = yield* third.client.parseBlock(b.bytes)
          yield* third.client.blockVerify(block.bytes)
          yield* third.client.blockAccept(block.id)
        }), { discard: true })))
    figures.push(figure(`bootstrap.${kind.name}.typed.oneByOne.blocksPerSec`, `${kind.label}: ParseBlock + verify + accept of each block (no batching), our host`, chain.length, oneByOne.seconds, "3 calls a block"))
  } finally {
    await rt.runPromise(Scope.close(scope, Exit.void))
  }
}
await rt.dispose()
rmSync(dir, { recursive: true, force: true })

report({
  scenario: "bootstrap",
  figures,
  notes: [
    `${BLOCKS} blocks per kind (TS: 256-byte payload-chain blocks; Go: 248-byte blocks), each VM on an empty in-memory database served over rpcdb by its host`,
    "one run per figure: blocks/s over the whole bootstrap"
  ],
  extra: {},
  wallSeconds: (performance.now() - started) / 1000
})
