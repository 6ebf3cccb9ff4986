/** Running a third-party peer (a Go or C-core node) that prints one JSON line as its result. */
import { Effect } from "effect"
import { spawn, type SpawnOptions } from "node:child_process"

export interface PeerRun {
  readonly code: number | null
  /** Its last stdout line as JSON (`{ unparsed }` when it is not). */
  readonly result: Record<string, any>
  readonly stderr: string
}

/** Runs the peer to its end, at most 60 s (then SIGKILL); interrupting the effect kills it. */
export const runPeer = (command: string, args: ReadonlyArray<string>, options: SpawnOptions = {}) =>
  Effect.callback<PeerRun>((resume) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
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
