/**
 * gRPC's C-core as a third implementation (beside grpc-go and grpc-js): a node and a plugin in
 * Python on Debian's python3-grpcio (interop/ccore), built by the vitest global setup.
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { runPeer } from "./peers.ts"

export const ccorePluginPath = fileURLToPath(new URL("../interop/ccore/plugin", import.meta.url))
const nodeScript = fileURLToPath(new URL("../interop/ccore/node.py", import.meta.url))
const descriptors = fileURLToPath(new URL("../interop/ccore/gen/wire.desc", import.meta.url))

/** Skip C-core tests only outside CI, where Debian's packages may legitimately be absent. */
export const skipCCore = !existsSync(descriptors) && process.env.CI !== "true"

/** The C-core node launching `plugin`, run to its end: its JSON line and its stderr. */
export const runCCoreNode = (args: ReadonlyArray<string>, plugin: string) =>
  runPeer("/usr/bin/python3", [nodeScript, ...args, plugin])
