/**
 * gRPC's C-core as a third implementation (beside grpc-go and grpc-js): a node and a plugin in
 * Python on Debian's python3-grpcio (interop/ccore), built by the vitest global setup.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const ccorePluginPath = fileURLToPath(new URL("../interop/ccore/plugin", import.meta.url))
const nodeScript = fileURLToPath(new URL("../interop/ccore/node.py", import.meta.url))
const descriptors = fileURLToPath(new URL("../interop/ccore/gen/wire.desc", import.meta.url))

/** Skip C-core tests only outside CI, where Debian's packages may legitimately be absent. */
export const skipCCore = !existsSync(descriptors) && process.env.CI !== "true"

/** The C-core node launching `plugin` (at most 60 s): its JSON line and its stderr. */
export const runCCoreNode = (args: ReadonlyArray<string>, plugin: string) =>
  Effect.callback<{ code: number | null; result: Record<string, any>; stderr: string }>((resume) => {
    const child = spawn("/usr/bin/python3", [nodeScript, ...args, plugin], { stdio: ["ignore", "pipe", "pipe"] })
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
