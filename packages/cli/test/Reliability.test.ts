/**
 * The vmre command against plugins and surroundings that misbehave: output pipes held by an
 * escaped process, a VM address that refuses connections, signals at awkward moments, a stop
 * held up by a SIGTERM-deaf child, a flood into an unread stderr, a memory limit.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as Containment from "../../runtime/src/Containment.ts"
import * as ResourceLimits from "../../runtime/src/ResourceLimits.ts"
import { bin, fixture, fixtureArgs, isAlive, repoRoot, start, vmre } from "./support.ts"

/** Polls `predicate` every 2 ms, at most `timeoutMillis`. */
const waitUntilTrue = (predicate: () => boolean, timeoutMillis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (!predicate()) {
      if (Date.now() > deadline) return false
      yield* Effect.sleep("2 millis")
    }
    return true
  })

describe("vmre check under trouble", () => {
  it.live("exits once done although a process that left the plugin's group still holds its output pipes", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "escape-grandchild", "--verbose"), { timeoutMillis: 20_000 })
      const grandchild = Number(/grandchild (\d+)/.exec(result.stderr)?.[1])
      if (grandchild > 0 && isAlive(grandchild)) process.kill(grandchild, "SIGKILL")
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^ok: node handshook and stopped\n/)
      // Before: the process lingered until the escaped one let go of the pipes (30 s here).
      expect(result.millis).toBeLessThan(10_000)
      expect(grandchild).toBeGreaterThan(0)
    }))

  it.live("a VM address that refuses connections fails in seconds and says so; --call-timeout bounds every call", () =>
    Effect.gen(function*() {
      const refusing = ["check", "--env", "FIXTURE_MODE=refusing-addr", "--handshake-timeout", "30s"]
      const result = yield* vmre([...refusing, process.execPath, fixture])
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(
        /^vm\.VM\/Version failed: the vm is unavailable \(Unavailable\): connection refused at 127\.0\.0\.1:\d+: the vm reported this address at its handshake/m
      )
      // Before: the call waited for its whole 30 s timeout and said only "no answer within 30s".
      expect(result.millis).toBeLessThan(15_000)
      const bounded = yield* vmre([...refusing, "--call-timeout", "500ms", process.execPath, fixture])
      expect(bounded.code).toBe(1)
      expect(bounded.stderr).toMatch(/no answer within 500ms; the last connection attempt failed: .*ECONNREFUSED/)
      const bad = yield* vmre(["check", "--call-timeout", "soon", process.execPath, fixture])
      expect(bad.code).toBe(2)
    }))

})

describe("vmre run under trouble", () => {
  it.live("Ctrl-C during the handshake says what it stops and kills a SIGTERM-deaf plugin at once (exit 130)", () =>
    Effect.scoped(Effect.gen(function*() {
      const vmreProcess = yield* start(fixtureArgs("check", "deaf-never-handshake", "--handshake-timeout", "60s", "--verbose"))
      const stderr = yield* vmreProcess.waitForStderr((text) => text.includes("deaf and never calling Initialize"))
      const pid = Number(/\[node (\d+) stdout\]/.exec(stderr)?.[1])
      const interruptedAt = Date.now()
      vmreProcess.child.kill("SIGINT")
      const result = yield* vmreProcess.finished(15_000)
      expect(result.code).toBe(130)
      expect(result.stderr).toContain(`vmre: WARN launch of node interrupted during its handshake: killing it (pid ${pid}) at once`)
      // Before: silence while SIGTERM was ignored for the whole 5 s grace (6.5 s in all).
      expect(Date.now() - interruptedAt).toBeLessThan(4_000)
      expect(isAlive(pid)).toBe(false)
    })))

  it.live("a stop held up by a process the plugin started that ignores SIGTERM says so", () =>
    Effect.gen(function*() {
      const held = yield* vmre(fixtureArgs("check", "spawn-grandchild"))
      expect(held.code, held.stderr).toBe(0)
      expect(held.stdout).toContain("  note: processes the plugin started in its group ignored SIGTERM and outlived it;")
      const json = yield* vmre(fixtureArgs("check", "spawn-grandchild", "--json"))
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, groupOutlivedPlugin: true })
      const plain = yield* vmre(fixtureArgs("check", "normal", "--json"))
      expect(JSON.parse(plain.stdout)).toMatchObject({ ok: true, groupOutlivedPlugin: false })
      expect((yield* vmre(fixtureArgs("check", "normal"))).stdout).not.toContain("note:")
    }))

  it.live("a signal during start-up ends vmre as a Ctrl-C does (130), not by the signal", () =>
    Effect.scoped(Effect.gen(function*() {
      const vmreProcess = yield* start(fixtureArgs("check", "normal"))
      // As soon as the bin's first lines have run (they name the process "vmre"), well before the
      // modules are loaded and the command's own handlers exist. (A signal before Node runs any
      // JavaScript at all cannot be caught by any program.)
      const named = () => readFileSync(`/proc/${vmreProcess.pid}/cmdline`, "utf8").startsWith("vmre")
      expect(yield* waitUntilTrue(named, 5_000)).toBe(true)
      vmreProcess.child.kill("SIGTERM")
      const result = yield* vmreProcess.finished(15_000)
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 130, signal: null })
    })))

  it.live("a flooding plugin and a stderr nobody reads: memory stays bounded, dropped lines are counted", () =>
    Effect.gen(function*() {
      const child = spawn(process.execPath, [bin, ...fixtureArgs("run", "flood", "--env", "FIXTURE_FLOOD_MB=4000")], {
        cwd: repoRoot,
        stdio: ["ignore", "ignore", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      // Nobody reads stderr for a while: the pipe fills, and vmre must not buffer the flood.
      child.stderr!.pause()
      const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1]) / 1024
      yield* Effect.sleep("4 seconds")
      const early = rssMiB()
      yield* Effect.sleep("3 seconds")
      const later = rssMiB()
      // Before: 1.07 GB at 6 s and 1.6 GB at 10 s, growing with the flood.
      expect(later).toBeLessThan(500)
      // Unbounded, it grew by ~130 MB a second.
      expect(later - early).toBeLessThan(200)
      let stderr = ""
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.stderr!.resume()
      yield* Effect.sleep("500 millis")
      child.kill("SIGINT")
      const code = yield* Effect.callback<number | null>((resume) => {
        child.once("close", (c) => resume(Effect.succeed(c)))
      }).pipe(Effect.timeout("20 seconds"))
      expect(code).toBe(0)
      expect(stderr).toMatch(/vmre: WARN \d+ log line\(s\) dropped: stderr was not read fast enough/)
    }).pipe(Effect.scoped), 60_000)

  it.live.skipIf(!ResourceLimits.v1Hierarchies().some((h) => h.resource === "memory") || !("base" in Containment.detect()))(
    "--memory-limit: a plugin over it is OOM-killed, and vmre says which limit it hit",
    () =>
      Effect.gen(function*() {
        const result = yield* vmre(
          fixtureArgs("run", "allocate", "--memory-limit", "192MiB", "--env", "FIXTURE_ALLOC_MB=1024"),
          { timeoutMillis: 30_000 }
        )
        expect(result.code).toBe(1)
        expect(result.stderr).toMatch(/^vmre: WARN node \(pid \d+\) hit its memory limit: 1 process\(es\) OOM-killed$/m)
        expect(result.stderr).toMatch(/^vmre: node \(pid \d+\) exited on its own: killed by SIGKILL$/m)
        const bad = yield* vmre(fixtureArgs("run", "normal", "--memory-limit", "lots"))
        expect(bad.code).toBe(2)
      })
  )

})
