/** The Go peers built by interop/go/build.sh (see the vitest global setup), and running them. */
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
