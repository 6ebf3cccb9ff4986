/**
 * Per-VM resource limits on a plugin's cgroup: memory, pids, CPU. Set through the cgroup v2
 * controllers where the host's cgroup delegates them, else through the cgroup v1 hierarchies
 * of those controllers where they are mounted and writable (a cgroup per plugin in each); a
 * limit with neither is reported as not applied. What the kernel counted against them (OOM
 * kills, refused forks, throttled periods) is read when the plugin ends.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

export interface Limits {
  /** Memory, bytes; over it the kernel OOM-kills a process of the VM. */
  readonly memoryBytes?: number | undefined
  /** Processes and threads; over it forks fail. */
  readonly pids?: number | undefined
  /** CPU time, in cores (0.5 = half a core). */
  readonly cpus?: number | undefined
}

export type Resource = "memory" | "pids" | "cpu"

/** What the kernel counted against a limit. */
export interface LimitHit {
  readonly resource: Resource
  /** OOM kills (memory), refused forks (pids), throttled periods (cpu). */
  readonly count: number
}

/** A controller's v1 hierarchy for this process: where its cgroups go. */
interface V1 {
  readonly resource: Resource
  readonly base: string
}

const CPU_PERIOD_MICROS = 100_000

const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

/** `key value` lines (memory.events, pids.events, cpu.stat, memory.oom_control) as a map. */
const counters = (text: string | undefined): Map<string, number> =>
  new Map((text ?? "").split("\n").map((line) => line.split(" ")).filter((p) => p.length === 2).map(([k, v]) => [k!, Number(v)]))

/** The v1 hierarchies of memory, pids and cpu this process may create cgroups in. */
export const v1Hierarchies = (): ReadonlyArray<V1> => {
  const mountinfo = read("/proc/self/mountinfo") ?? ""
  const own = read("/proc/self/cgroup") ?? ""
  const found: Array<V1> = []
  for (const resource of ["memory", "pids", "cpu"] as const) {
    const mount = mountinfo.split("\n").find((line) => {
      const [, after] = line.split(" - ")
      return after?.startsWith("cgroup ") === true && after.split(" ")[2]?.split(",").includes(resource)
    })?.split(" ")[4]
    const ownPath = own.split("\n").map((l) => l.split(":")).find((f) => f[1]?.split(",").includes(resource))?.[2]
    if (mount === undefined || ownPath === undefined) continue
    const base = path.join(mount, ownPath)
    try {
      fs.accessSync(base, fs.constants.W_OK)
      found.push({ resource, base })
    } catch {
      // Not ours to write.
    }
  }
  return found
}

/** The controllers this host can limit with: delegated in cgroup v2 under `v2Base`, and the v1 hierarchies. Read once per host. */
export interface Controllers {
  readonly v2Delegated: ReadonlySet<string>
  readonly v1: ReadonlyArray<V1>
}

export const controllers = (v2Base: string): Controllers => ({
  v2Delegated: new Set((read(path.join(v2Base, "cgroup.subtree_control")) ?? "").trim().split(/\s+/)),
  v1: v1Hierarchies()
})

/** The limits of one plugin: extra procs files to enter, and how to read and remove them. */
export interface AppliedLimits {
  /** cgroup.procs files (v1) the plugin must enter besides its v2 cgroup. */
  readonly procsFiles: ReadonlyArray<string>
  /** Resources asked for that no controller could limit. */
  readonly notApplied: ReadonlyArray<Resource>
  readonly hits: Effect.Effect<ReadonlyArray<LimitHit>>
  /** Removes the v1 cgroups (their processes are gone by then). */
  readonly remove: Effect.Effect<void>
}

const values = (limits: Limits): ReadonlyArray<readonly [Resource, number]> =>
  ([["memory", limits.memoryBytes], ["pids", limits.pids], ["cpu", limits.cpus]] as const)
    .flatMap(([r, v]) => (v === undefined ? [] : [[r, v] as const]))

const v2Files = (resource: Resource, value: number): ReadonlyArray<readonly [string, string]> =>
  resource === "memory" ?
    [["memory.max", String(Math.floor(value))], ["memory.swap.max", "0"]] :
    resource === "pids" ?
    [["pids.max", String(Math.floor(value))]] :
    [["cpu.max", `${Math.max(1_000, Math.round(value * CPU_PERIOD_MICROS))} ${CPU_PERIOD_MICROS}`]]

const v1Files = (resource: Resource, value: number): ReadonlyArray<readonly [string, string]> =>
  resource === "memory" ?
    [["memory.limit_in_bytes", String(Math.floor(value))]] :
    resource === "pids" ?
    [["pids.max", String(Math.floor(value))]] :
    [["cpu.cfs_period_us", String(CPU_PERIOD_MICROS)], ["cpu.cfs_quota_us", String(Math.max(1_000, Math.round(value * CPU_PERIOD_MICROS)))]]

const hitOf = (resource: Resource, dir: string, v2: boolean): LimitHit => {
  const count = resource === "memory" ?
    (v2 ? counters(read(path.join(dir, "memory.events"))).get("oom_kill") : counters(read(path.join(dir, "memory.oom_control"))).get("oom_kill")) :
    resource === "pids" ?
    counters(read(path.join(dir, "pids.events"))).get("max") :
    counters(read(path.join(dir, "cpu.stat"))).get("nr_throttled")
  return { resource, count: count ?? 0 }
}

/** Applies `limits` to the plugin whose v2 cgroup is `v2Dir`, with `available` controllers; `name` names its v1 cgroups. */
export const apply = (limits: Limits, available: Controllers, v2Dir: string, name: string): AppliedLimits => {
  const delegated = available.v2Delegated
  const v1 = available.v1
  const procsFiles: Array<string> = []
  const notApplied: Array<Resource> = []
  const where: Array<{ readonly resource: Resource; readonly dir: string; readonly v2: boolean }> = []
  const v1Dirs: Array<string> = []
  for (const [resource, value] of values(limits)) {
    try {
      if (delegated.has(resource)) {
        for (const [file, text] of v2Files(resource, value)) {
          // memory.swap.max is absent without swap accounting: the memory limit still holds.
          try {
            fs.writeFileSync(path.join(v2Dir, file), text)
          } catch (error) {
            if (file !== "memory.swap.max") throw error
          }
        }
        where.push({ resource, dir: v2Dir, v2: true })
        continue
      }
      const hierarchy = v1.find((h) => h.resource === resource)
      if (hierarchy === undefined) {
        notApplied.push(resource)
        continue
      }
      const dir = path.join(hierarchy.base, name)
      fs.mkdirSync(dir, { recursive: true })
      v1Dirs.push(dir)
      for (const [file, text] of v1Files(resource, value)) fs.writeFileSync(path.join(dir, file), text)
      procsFiles.push(path.join(dir, "cgroup.procs"))
      where.push({ resource, dir, v2: false })
    } catch {
      notApplied.push(resource)
    }
  }
  return {
    procsFiles,
    notApplied,
    hits: Effect.sync(() => where.map(({ dir, resource, v2 }) => hitOf(resource, dir, v2)).filter((h) => h.count > 0)),
    remove: Effect.sync(() => {
      for (const dir of v1Dirs) {
        try {
          fs.rmdirSync(dir)
        } catch {
          // Busy past the bound: left for the operator.
        }
      }
    })
  }
}
