import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Containment from "../src/Containment.ts"
import * as OrphanGuard from "../src/OrphanGuard.ts"
import { goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { waitUntil } from "./support.ts"

const hostPath = fileURLToPath(new URL("./fixtures/host.ts", import.meta.url))

/** State, parent and process group of each live process (zombies excluded), from /proc. */
const liveProcesses = (): Array<{ readonly pid: number; readonly ppid: number; readonly pgid: number }> =>
  readdirSync("/proc").filter((e) => /^\d+$/.test(e)).flatMap((entry) => {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // fields[0] is the state, fields[1] the parent, fields[2] the process group.
      return fields[0] !== "Z" ? [{ pid: Number(entry), ppid: Number(fields[1]), pgid: Number(fields[2]) }] : []
    } catch {
      return []
    }
  })

/** Pids of the live processes whose process group is `pgid`. */
const groupMembers = (pgid: number): Array<number> => liveProcesses().filter((p) => p.pgid === pgid).map((p) => p.pid)

const killHostAndWatch = (env: Record<string, string>, expectedMembers: number) =>
  Effect.gen(function*() {
    const host = spawn(process.execPath, [hostPath], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => host.kill("SIGKILL")))
    let output = ""
    host.stdout.on("data", (chunk) => (output += chunk))
    expect(yield* waitUntil(() => output.includes("\n"), 10_000)).toBe(true)
    const pid = (JSON.parse(output.split("\n")[0]!) as { pid: number }).pid
    // The plugin and everything it started share its process group.
    expect(yield* waitUntil(() => groupMembers(pid).length >= expectedMembers, 5_000)).toBe(true)

    host.kill("SIGKILL")
    const gone = yield* waitUntil(() => groupMembers(pid).length === 0, 1_000)
    expect(groupMembers(pid)).toEqual([])
    expect(gone).toBe(true)
  }).pipe(Effect.scoped)

describe.skipIf(!OrphanGuard.available)("orphan protection (Linux)", () => {
  it.live("a plugin that ignores SIGTERM dies within 1 s of its host's SIGKILL", () => killHostAndWatch({ FIXTURE_MODE: "ignore-sigterm" }, 1))

  it.live("so do the processes the plugin started (its whole process group)", () =>
    killHostAndWatch({ FIXTURE_MODE: "spawn-grandchild" }, 2))

  it.live.skipIf(skipGo)("so does a third-party Go plugin that ignores SIGTERM and does not watch its parent", () =>
    killHostAndWatch({ HOST_PLUGIN: goPluginPath, GO_PLUGIN_MODE: "ignore-sigterm" }, 1))
})

/** Live children of `pid`. */
const childrenOf = (pid: number): Array<number> => liveProcesses().filter((p) => p.ppid === pid).map((p) => p.pid)

const aliveNotZombie = (pid: number): boolean => liveProcesses().some((p) => p.pid === pid)

describe.skipIf(!OrphanGuard.available || !("base" in Containment.detect()))("orphan protection with cgroups", () => {
  it.live("a daemon the plugin started outside its process group dies within 1 s of its host's SIGKILL", () =>
    Effect.gen(function*() {
      const host = spawn(process.execPath, [hostPath], {
        env: { ...process.env, FIXTURE_MODE: "escape-grandchild" },
        stdio: ["ignore", "pipe", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => host.kill("SIGKILL")))
      let output = ""
      host.stdout.on("data", (chunk) => (output += chunk))
      expect(yield* waitUntil(() => output.includes("\n"), 10_000)).toBe(true)
      const pid = (JSON.parse(output.split("\n")[0]!) as { pid: number }).pid
      expect(yield* waitUntil(() => childrenOf(pid).length >= 1, 5_000)).toBe(true)
      const [daemon] = childrenOf(pid)
      yield* Effect.addFinalizer(() => Effect.sync(() => aliveNotZombie(daemon!) && process.kill(daemon!, "SIGKILL")))
      host.kill("SIGKILL")
      expect(yield* waitUntil(() => !aliveNotZombie(daemon!) && !aliveNotZombie(pid), 1_500)).toBe(true)
    }).pipe(Effect.scoped))
})
