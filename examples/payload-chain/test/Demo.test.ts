/**
 * The demo (`npm run demo` at the repository root) as a newcomer runs it: a subprocess on the
 * pinned Node, its output read as text. It must accept its blocks, stop the VM through the
 * engine's stop sequence (exit code 0), clean up after itself, and stop cleanly on Ctrl-C.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll } from "vitest"
import { VERSION } from "../src/PayloadChain.ts"
import { freshBundle, isAlive, waitUntil } from "./support.ts"

beforeAll(freshBundle, 60_000)

const demo = fileURLToPath(new URL("../src/demo.ts", import.meta.url))
const root = fileURLToPath(new URL("../../..", import.meta.url))

interface Run {
  readonly child: ChildProcess
  readonly output: { stdout: string; stderr: string }
  readonly exit: Promise<{ code: number | null; signal: string | null }>
}

/** The demo as `npm run demo` runs it (from the repository root), killed when the scope closes. */
const start = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync((): Run => {
      const child = spawn(process.execPath, [demo], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
      const output = { stdout: "", stderr: "" }
      child.stdout!.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()))
      child.stderr!.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()))
      const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, output, exit }
    }),
    ({ child, exit }) =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        await exit
      })
  )

const finished = (run: Run) => Effect.promise(() => run.exit).pipe(Effect.timeout("45 seconds"), Effect.orDie)

/** The plugin's pid, from the demo's "launched     pid N, …" line. */
const pluginPid = (stdout: string) => Number(/^launched\s+pid (\d+)/m.exec(stdout)?.[1])

describe("the demo (npm run demo)", () => {
  it.live("accepts DEMO_BLOCKS blocks, stops the VM with exit code 0 and removes its temporary data", () =>
    Effect.gen(function*() {
      const run = yield* start({ DEMO_BLOCKS: "3" })
      const exit = yield* finished(run)
      const { stdout, stderr } = run.output
      expect(exit, stderr).toEqual({ code: 0, signal: null })
      expect(stdout).toMatch(/^handshake\s+\d+(\.\d)? ms \(spawn → Initialize on the runtime server\), protocol version 45$/m)
      expect(stdout).toContain(`Version      ${VERSION}`)
      expect(stdout).toMatch(/^Initialize\s+last accepted \w+ at height 0 \(a new chain/m)
      for (const height of [1, 2, 3]) {
        // A CB58 id of 32 bytes is 49 or 50 characters, 48 for about 1 id in 110 (seen), fewer rarer still.
        expect(stdout).toMatch(new RegExp(`^block\\s+${height}  \\w{45,50}  \\d payload\\(s\\)  [\\d.]+ ms$`, "m"))
      }
      expect(stdout).not.toMatch(/^block\s+4 /m)
      expect(stdout).toMatch(/"lastAcceptedHeight":"3"/)
      expect(stdout).toMatch(/^ {2}blocks accepted\s+3 \(to height 3\), \d+ blocks\/s/m)
      expect(stdout).toMatch(/^ {2}vm exit\s+exit code 0 /m)
      const dataDir = /^ {2}data dir\s+(\S+) \(removed\)$/m.exec(stdout)?.[1]
      expect(dataDir).toBeDefined()
      expect(existsSync(dataDir!)).toBe(false)
      expect(isAlive(pluginPid(stdout))).toBe(false)
    }), 60_000)

  it.live("resumes the chain kept in DEMO_DB", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "payload-chain-demo-db-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const first = yield* start({ DEMO_BLOCKS: "2", DEMO_DB: dir })
      expect(yield* finished(first), first.output.stderr).toEqual({ code: 0, signal: null })
      const second = yield* start({ DEMO_BLOCKS: "2", DEMO_DB: dir })
      expect(yield* finished(second), second.output.stderr).toEqual({ code: 0, signal: null })
      expect(second.output.stdout).toMatch(/^Initialize\s+last accepted \w+ at height 2 \(resumed/m)
      expect(second.output.stdout).toMatch(/^block\s+4 /m)
      expect(second.output.stdout).toMatch(new RegExp(`^ {2}data dir\\s+${dir}$`, "m"))
      expect(existsSync(join(dir, "db"))).toBe(true)
    }), 60_000)

  it.live("stops cleanly on Ctrl-C (SIGINT) with DEMO_BLOCKS=0: summary, exit code 0, no process left", () =>
    Effect.gen(function*() {
      const run = yield* start({ DEMO_BLOCKS: "0", DEMO_PAUSE_MS: "50" })
      expect(yield* waitUntil(() => /^block\s+2 /m.test(run.output.stdout), 30_000)).toBe(true)
      const pid = pluginPid(run.output.stdout)
      expect(isAlive(pid)).toBe(true)
      run.child.kill("SIGINT")
      const exit = yield* finished(run)
      expect(exit, run.output.stderr).toEqual({ code: 0, signal: null })
      expect(run.output.stderr).toContain("SIGINT: stopping")
      expect(run.output.stdout).toMatch(/^ {2}vm exit\s+exit code 0 /m)
      expect(isAlive(pid)).toBe(false)
    }), 60_000)
})
