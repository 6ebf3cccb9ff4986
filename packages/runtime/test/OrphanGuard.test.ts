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

/** Pids of the live processes whose process group is `pgid`. */
const groupMembers = (pgid: number): Array<number> =>
  readdirSync("/proc").filter((e) => /^\d+$/.test(e)).flatMap((entry) => {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // fields[0] is the state, fields[2] the process group; zombies are already dead.
      return fields[0] !== "Z" && Number(fields[2]) === pgid ? [Number(entry)] : []
    } catch {
      return []
    }
  })

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

/** Live children of `pid` (zombies excluded). */
const childrenOf = (pid: number): Array<number> =>
  readdirSync("/proc").filter((e) => /^\d+$/.test(e)).flatMap((entry) => {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return fields[0] !== "Z" && Number(fields[1]) === pid ? [Number(entry)] : []
    } catch {
      return []
    }
  })

const aliveNotZombie = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}

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
