/** The Go peers built by interop/go/build.sh (see the vitest global setup), and running them. */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const goPluginPath = fileURLToPath(new URL("../interop/go/bin/plugin", import.meta.url))
export const goHostPath = fileURLToPath(new URL("../interop/go/bin/host", import.meta.url))

/** Skip Go tests only outside CI, where the toolchain may legitimately be absent. */
export const skipGo = !existsSync(goPluginPath) && process.env.CI !== "true"

/**
 * The Go node launching `plugin` as upstream does (absolute path, cwd `/`, an environment with
 * only the engine address), run to its end (at most 60 s): its last JSON line and its stderr.
 */
export const runGoHost = (args: ReadonlyArray<string>, plugin: string) =>
  Effect.callback<{ code: number | null; result: Record<string, any>; stderr: string }>((resume) => {
    const child = spawn(goHostPath, [...args, plugin], { cwd: "/", env: {}, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      let result: Record<string, any> = {}
      try {
        result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}")
      } catch {
        result = { unparsed: stdout }
      }
      resume(Effect.succeed({ code, result, stderr }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })
