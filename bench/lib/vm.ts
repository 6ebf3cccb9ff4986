/**
 * The VMs under test and how the benchmarks drive them: paths, a host runtime, the
 * payload-chain genesis and blocks, and the Initialize request with an in-process rpcdb.
 */
import { ChainVm, type ChainVmClient, type ChainVmConfig, Id, NodeId, type VmInstance, VmRuntime } from "@vmre/runtime"
import { MemoryDatabase, RpcDbServer } from "@vmre/rpcdb"
import { Effect, Exit, Layer, Logger, ManagedRuntime, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Codec from "../../examples/payload-chain/src/Codec.ts"
import { cmdline } from "./proc.ts"

export const root = fileURLToPath(new URL("../../", import.meta.url))
export const payloadChainBin = path.join(root, "examples/payload-chain/bin/payload-chain")
export const goPlugin = path.join(root, "interop/go/bin/plugin")
export const goHost = path.join(root, "interop/go/bin/host")
export const node = process.execPath

/**
 * The host runtime of the benchmarks: `VmRuntime.layer` as a node would use it. Plugin log
 * lines go to the default logger unless `quiet` (then nowhere), so that a chatty plugin
 * does not turn a latency benchmark into a console benchmark.
 */
export const hostRuntime = (options: { readonly quiet?: boolean } = {}) =>
  ManagedRuntime.make(
    options.quiet === true ? Layer.merge(VmRuntime.layer, Logger.layer([])) : VmRuntime.layer
  )
export type HostRuntime = ReturnType<typeof hostRuntime>

export interface Launched {
  readonly client: ChainVmClient
  readonly vm: VmInstance
  readonly scope: Scope.Closeable
  /** Runs the stop sequence (Shutdown, close, SIGTERM, grace, SIGKILL). */
  readonly close: () => Promise<void>
}

// `npm run bench -- --profile` profiles the plugins too: the runtime passes a plugin only
// the env it is given (as upstream), so NODE_OPTIONS goes through the launch config.
const pluginEnv: Record<string, string> = process.env.BENCH_PLUGIN_NODE_OPTIONS === undefined ?
  {} :
  { NODE_OPTIONS: process.env.BENCH_PLUGIN_NODE_OPTIONS }

/** `ChainVm.launch` in its own scope, from a Promise caller. */
export const launch = async (rt: HostRuntime, config: ChainVmConfig): Promise<Launched> => {
  const scope = await rt.runPromise(Scope.make())
  config = { ...config, env: { ...pluginEnv, ...config.env } }
  try {
    const { client, vm } = await rt.runPromise(Scope.provide(ChainVm.launch(config), scope))
    return { client, vm, scope, close: () => rt.runPromise(Scope.close(scope, Exit.void)) }
  } catch (error) {
    await rt.runPromise(Scope.close(scope, Exit.void))
    throw error
  }
}

/** Which program the plugin process really runs: its command line, relative to the repo. */
export const entryOf = (pid: number): string =>
  cmdline(pid).map((arg) => (arg.startsWith(root) ? path.relative(root, arg) : arg)).join(" ")

// ---------------------------------------------------------------------------------------
// payload-chain

/** Genesis rules that admit a 1 MiB payload (the default allows 1 KiB payloads). */
export const genesis = {
  timestamp: "2025-01-01T00:00:00.000Z",
  message: "vmre bench genesis",
  maxPayloadBytes: 2 * 1024 * 1024,
  minPayloadsPerBlock: 1,
  maxPayloadsPerBlock: 64
}
export const genesisBytes = new TextEncoder().encode(JSON.stringify(genesis))
/** payload-chain's config for the bench: no payload generator (the bench measures the calls it makes). */
export const configBytes = new TextEncoder().encode(JSON.stringify({ autoPayload: null }))

const HEADER = 1 + 32 + 8 + 8 + 4

/**
 * A valid payload-chain block of exactly `size` bytes on top of `parent`: one payload whose
 * first bytes are `seed`, so that different seeds give different blocks (and ids).
 */
export const makeBlock = (
  parent: { readonly id: Uint8Array; readonly height: bigint; readonly timestampMillis: number },
  size: number,
  seed: number
): Uint8Array => {
  const payload = new Uint8Array(size - HEADER - 4).fill(0x61)
  new DataView(payload.buffer).setFloat64(0, seed)
  return Codec.encode({
    parentId: parent.id,
    height: parent.height + 1n,
    timestampMillis: parent.timestampMillis + 1000,
    payloads: [payload]
  })
}

/**
 * An rpcdb server over a memory database in this process (the node's side of the VM's
 * database), and the Initialize request that points payload-chain at it.
 */
export const initializeWithMemoryDb = (
  client: ChainVmClient,
  options: { readonly genesisBytes?: Uint8Array; readonly configBytes?: Uint8Array } = {}
) =>
  Effect.gen(function*() {
    const db = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
    const id = (n: number) => Id.make(new Uint8Array(32).fill(n))
    return yield* client.initialize({
      networkId: 12345,
      subnetId: id(0),
      chainId: id(1),
      nodeId: NodeId.make(new Uint8Array(20).fill(2)),
      publicKey: new Uint8Array(48),
      xChainId: id(3),
      cChainId: id(4),
      avaxAssetId: id(5),
      chainDataDir: mkdtempSync(path.join(tmpdir(), "vmre-bench-")),
      genesisBytes: options.genesisBytes ?? genesisBytes,
      upgradeBytes: new Uint8Array(0),
      // No payload generator: the bench measures the calls it makes.
      configBytes: options.configBytes ?? configBytes,
      dbServerAddr: db.address,
      serverAddr: db.address
    })
  })
