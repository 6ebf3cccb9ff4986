/**
 * `npm start`: runs payload-chain as a plugin under a tiny single-validator "node"
 * (MiniNode) and prints the chain as it grows. The VM's auto-payload generator fills the
 * mempool; the loop below is what avalanchego's engine does with one validator:
 *
 *   WaitForEvent → BuildBlock → BlockVerify → SetPreference → BlockAccept → …
 *
 * The database is a LevelDB directory (DEMO_DB, default a fresh temp dir) served over
 * rpcdb, so running again with the same DEMO_DB resumes the chain. Ctrl-C stops it:
 * the node calls Shutdown, then sends SIGTERM, as upstream does. DEMO_BLOCKS=n stops
 * after n blocks.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Id } from "@vmre/plugin"
import { LevelDatabase, RpcDbServer } from "@vmre/rpcdb"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as MiniNode from "./MiniNode.ts"
import * as Codec from "./Codec.ts"

const executable = fileURLToPath(new URL("../bin/payload-chain", import.meta.url))
const dbPath = process.env.DEMO_DB ?? mkdtempSync(join(tmpdir(), "payload-chain-"))
const maxBlocks = Number(process.env.DEMO_BLOCKS ?? "0")
const utf8 = (text: string) => new TextEncoder().encode(text)

const program = Effect.gen(function*() {
  const database = yield* LevelDatabase.open(dbPath)
  const db = yield* RpcDbServer.serve(database)
  const plugin = yield* MiniNode.launch({
    executable,
    onOutput: (stream, line) => process.stdout.write(`  [vm ${stream}] ${line}\n`)
  })
  console.log(`plugin pid ${plugin.pid} serving vm.VM at ${plugin.vmAddr}; database ${dbPath}`)
  const call = <A>(f: () => Promise<A>) => Effect.promise(f)

  console.log(`version: ${(yield* call(() => plugin.vm.version({}))).version}`)
  const init = yield* call(() =>
    plugin.vm.initialize({
      networkId: 12345,
      chainId: new Uint8Array(32).fill(7),
      subnetId: new Uint8Array(32),
      nodeId: new Uint8Array(20).fill(1),
      chainDataDir: dbPath,
      genesisBytes: utf8(
        JSON.stringify({ timestamp: "2025-01-01T00:00:00.000Z", message: "hello from the demo", maxPayloadsPerBlock: 4 })
      ),
      configBytes: utf8(JSON.stringify({ autoPayload: { intervalMillis: 400, bytes: 48 } })),
      dbServerAddr: db.address
    })
  )
  console.log(`last accepted: ${Id.toString(init.lastAcceptedId)} at height ${init.height}`)
  yield* call(() => plugin.vm.setState({ state: 2 }))
  yield* call(() => plugin.vm.setState({ state: 3 }))

  for (let n = 1; maxBlocks === 0 || n <= maxBlocks; n++) {
    const event = yield* call(() => plugin.vm.waitForEvent({}))
    if (event.message !== 1) continue
    const built = yield* call(() => plugin.vm.buildBlock({}))
    yield* call(() => plugin.vm.blockVerify({ bytes: built.bytes }))
    yield* call(() => plugin.vm.setPreference({ id: built.id }))
    yield* call(() => plugin.vm.blockAccept({ id: built.id }))
    const data = Codec.decode(built.bytes)
    const payloads = data instanceof Codec.MalformedBlock ? [] : data.payloads
    console.log(
      `block ${built.height} ${Id.toString(built.id)} ${payloads.length} payload(s): ` +
        payloads.map((p) => JSON.stringify(new TextDecoder().decode(p).split(" at ")[0])).join(", ")
    )
  }
  const health = yield* call(() => plugin.vm.health({}))
  console.log(`health: ${new TextDecoder().decode(health.details)}`)
})

NodeRuntime.runMain(Effect.scoped(program))
