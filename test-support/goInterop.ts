/** The Go peers built by interop/go/build.sh (see the vitest global setup), and running them. */
import { Id, type InitializeParams, NodeId } from "@vmre/runtime"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { runPeer } from "./peers.ts"

export const goPluginPath = fileURLToPath(new URL("../interop/go/bin/plugin", import.meta.url))
export const goHostPath = fileURLToPath(new URL("../interop/go/bin/host", import.meta.url))

/** Skip Go tests only outside CI, where the toolchain may legitimately be absent. */
export const skipGo = !existsSync(goPluginPath) && process.env.CI !== "true"

/**
 * The Go node launching `plugin` as upstream does (absolute path, cwd `/`, an environment with
 * only the engine address), run to its end: its last JSON line and its stderr.
 */
export const runGoHost = (args: ReadonlyArray<string>, plugin: string) =>
  runPeer(goHostPath, [...args, plugin], { cwd: "/", env: {} })

/** What the Go plugin is initialized with in the tests: fixed ids, its genesis text, `dbAddress` for its database and node services. */
export const goInitializeParams = (dbAddress: string): InitializeParams => ({
  networkId: 12345,
  subnetId: Id.make(new Uint8Array(32)),
  chainId: Id.make(new Uint8Array(32).fill(7)),
  nodeId: NodeId.make(new Uint8Array(20).fill(1)),
  publicKey: new Uint8Array(48),
  xChainId: Id.make(new Uint8Array(32).fill(2)),
  cChainId: Id.make(new Uint8Array(32).fill(3)),
  avaxAssetId: Id.make(new Uint8Array(32).fill(4)),
  chainDataDir: "/tmp/go-vm",
  genesisBytes: new TextEncoder().encode("genesis of the Go VM"),
  upgradeBytes: new Uint8Array(),
  configBytes: new Uint8Array(),
  dbServerAddr: dbAddress,
  serverAddr: dbAddress
})
