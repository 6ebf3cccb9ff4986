/** The Go peers built by interop/go/build.sh (see the vitest global setup). */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const goPluginPath = fileURLToPath(new URL("../interop/go/bin/plugin", import.meta.url))
export const goHostPath = fileURLToPath(new URL("../interop/go/bin/host", import.meta.url))

/** Skip Go tests only outside CI, where the toolchain may legitimately be absent. */
export const skipGo = !existsSync(goPluginPath) && process.env.CI !== "true"
