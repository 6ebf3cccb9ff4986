/** The README's embedding example runs as documented. */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

const main = fileURLToPath(new URL("../main.ts", import.meta.url))

describe("examples/embed", () => {
  it.live("launches the example VM, reads its version, and stops it cleanly", () =>
    Effect.callback<{ code: number | null; stdout: string }>((resume) => {
      const child = execFile(process.execPath, [main], { timeout: 60_000 }, (error, stdout) =>
        resume(Effect.succeed({ code: error === null ? 0 : (error.code as number | null) ?? 1, stdout })))
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(
      Effect.map(({ code, stdout }) => {
        expect(code).toBe(0)
        expect(stdout).toMatch(/payload-chain: pid \d+, vm\.VM at 127\.0\.0\.1:\d+, protocol 45, handshake in [\d.]+ ms/)
        expect(stdout).toContain("version: payload-chain/0.1.0")
        const events = [...stdout.matchAll(/lifecycle: (\w+)/g)].map((m) => m[1])
        expect(events).toEqual(["Spawned", "Ready", "Exited"])
      })
    ), 90_000)
})
