/**
 * Containment beyond the process group: where the host may create cgroups (cgroup v2, as root
 * or in a delegated subtree), each plugin runs in a cgroup of its own from its first
 * instruction, and its stop kills everything left in it — also a process that left the
 * plugin's process group (`setsid`), which signals to the group never reach. Where cgroups are
 * not available, plugins are contained by process group only, and one log line says why.
 *
 * The cgroups are children of the host's own cgroup (`vmre-<host pid>-<n>`), removed when the
 * plugin's scope closes. No controller is needed (`cgroup.kill`, or SIGKILL to each process
 * listed in `cgroup.procs`).
 */
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { isAlive } from "./Liveness.ts"
import * as ResourceLimits from "./ResourceLimits.ts"

/** One plugin's cgroup. */
export interface PluginCgroup {
  readonly path: string
  /** Resources asked for that no controller could limit. */
  readonly notApplied: ReadonlyArray<ResourceLimits.Resource>
  /** What the kernel counted against the limits so far. */
  readonly limitHits: Effect.Effect<ReadonlyArray<ResourceLimits.LimitHit>>
  /** Removes the limits' own cgroups (cgroup v1), once the plugin's processes are gone. */
  readonly removeLimits: Effect.Effect<void>
  /** SIGKILLs every process still in the cgroup and waits (bounded) until it is empty; the count killed. */
  readonly killAll: Effect.Effect<number>
  /** The command that enters the cgroup, then execs `command` (so that the plugin starts inside it). */
  readonly wrap: (command: { readonly command: string; readonly args: ReadonlyArray<string> }) => {
    readonly command: string
    readonly args: ReadonlyArray<string>
  }
}

const SH = "/bin/sh"
// `$0` is how many procs files follow: the shell moves itself into each cgroup, then becomes
// the command (so the plugin starts inside them). POSIX sh only: it has no PATH.
const ENTER = `n=$0; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"`
const EMPTY_BOUND = Duration.seconds(1)

/** The writable cgroup v2 directory of this process, or why there is none. */
export const detect = (): { readonly base: string } | { readonly reason: string } => {
  if (process.platform !== "linux") return { reason: "not Linux" }
  let mount: string | undefined
  try {
    for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const [before, after] = line.split(" - ")
      if (after?.startsWith("cgroup2 ")) mount = before?.split(" ")[4]
    }
  } catch (error) {
    return { reason: `cannot read /proc/self/mountinfo: ${String(error)}` }
  }
  if (mount === undefined) return { reason: "no cgroup v2 hierarchy is mounted" }
  const own = /^0::(.*)$/m.exec(fs.readFileSync("/proc/self/cgroup", "utf8"))?.[1]
  if (own === undefined) return { reason: "this process is in no cgroup v2 cgroup" }
  const base = path.join(mount, own)
  const probe = path.join(base, `vmre-${process.pid}-probe`)
  try {
    fs.mkdirSync(probe)
    fs.rmdirSync(probe)
  } catch (error) {
    return { reason: `cannot create a cgroup under ${base} (${(error as NodeJS.ErrnoException).code ?? String(error)}): run as root or in a delegated cgroup` }
  }
  return { base }
}

const pidsIn = (dir: string): Array<number> => {
  try {
    return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter((l) => l !== "").map(Number)
  } catch {
    return []
  }
}

const noLimits: ResourceLimits.AppliedLimits = { procsFiles: [], notApplied: [], hits: Effect.succeed([]), remove: Effect.void }

const makeCgroup = (dir: string, limits: ResourceLimits.AppliedLimits): PluginCgroup => ({
  path: dir,
  notApplied: limits.notApplied,
  limitHits: limits.hits,
  removeLimits: limits.remove,
  wrap: (inner) => {
    const procs = [path.join(dir, "cgroup.procs"), ...limits.procsFiles]
    return { command: SH, args: ["-c", ENTER, String(procs.length), ...procs, inner.command, ...inner.args] }
  },
  killAll: Effect.gen(function*() {
    const before = pidsIn(dir)
    if (before.length === 0) return 0
    try {
      fs.writeFileSync(path.join(dir, "cgroup.kill"), "1")
    } catch {
      // Kernels before 5.14 have no cgroup.kill: signal each process listed.
      for (const pid of before) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // Gone already.
        }
      }
    }
    const deadline = Date.now() + Duration.toMillis(EMPTY_BOUND)
    while (pidsIn(dir).length > 0 && Date.now() < deadline) yield* Effect.sleep("10 millis")
    return before.length
  })
})

/**
 * Removes the empty cgroups of hosts that are gone (a host killed with SIGKILL cannot remove
 * its own; its watchdog killed what was inside).
 */
const removeStale = (base: string): void => {
  let entries: Array<string> = []
  try {
    entries = fs.readdirSync(base)
  } catch {
    return
  }
  for (const entry of entries) {
    const owner = /^vmre-(\d+)-(\d+|probe)$/.exec(entry)?.[1]
    if (owner === undefined || Number(owner) === process.pid || isAlive(Number(owner))) continue
    try {
      fs.rmdirSync(path.join(base, entry))
    } catch {
      // Not empty yet, or not ours to remove: left alone.
    }
  }
}

export class Containment extends Context.Service<Containment, {
  /** Why plugins are contained by process group only; undefined when cgroups are used. */
  readonly unavailable: string | undefined
  /**
   * A cgroup for one plugin (with `limits` where a controller can apply them), emptied and
   * removed when the scope closes; undefined without cgroups.
   */
  readonly create: (name: string, limits?: ResourceLimits.Limits) => Effect.Effect<PluginCgroup | undefined, never, Scope.Scope>
}>()("@vmre/runtime/Containment") {
  /** Cgroups where this host may create them, process groups elsewhere (said once, at Info). */
  static readonly layer: Layer.Layer<Containment> = Layer.effect(
    Containment,
    Effect.gen(function*() {
      const found = detect()
      if ("reason" in found) {
        yield* Effect.logInfo(`cgroups not available (${found.reason}): plugins are contained by process group only`)
        return { unavailable: found.reason, create: () => Effect.succeed(undefined) }
      }
      removeStale(found.base)
      const available = ResourceLimits.controllers(found.base)
      for (const hierarchy of available.v1) removeStale(hierarchy.base)
      let next = 0
      return {
        unavailable: undefined,
        create: (name, limits) =>
          Effect.acquireRelease(
            Effect.sync((): PluginCgroup | string => {
              // A name no cgroup of this process has, in any hierarchy: another Containment
              // layer of this process counts from 0 too, and a cgroup whose processes outlived
              // the kill bound stays behind under its name.
              for (let tries = 0; tries < 1_000; tries++) {
                const id = `vmre-${process.pid}-${next++}`
                const dir = path.join(found.base, id)
                if (available.v1.some((h) => fs.existsSync(path.join(h.base, id)))) continue
                try {
                  fs.mkdirSync(dir)
                } catch (error) {
                  if ((error as NodeJS.ErrnoException).code === "EEXIST") continue
                  return `cannot create ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`
                }
                return makeCgroup(dir, limits === undefined ? noLimits : ResourceLimits.apply(limits, available, dir, id))
              }
              return `no free cgroup name under ${found.base}`
            }),
            (cgroup) =>
              typeof cgroup === "string" ? Effect.void : Effect.gen(function*() {
                const killed = yield* cgroup.killAll
                if (killed > 0) {
                  yield* Effect.logWarning(
                    `${name}: ${killed} process(es) it started outside its process group were still running; killed with its cgroup`
                  )
                }
                // Killed processes leave the cgroup as they are reaped: busy for a moment.
                const deadline = Date.now() + Duration.toMillis(EMPTY_BOUND)
                while (true) {
                  try {
                    fs.rmdirSync(cgroup.path)
                    break
                  } catch (error) {
                    // Still busy past the bound: the directory stays, empty or not, for the operator.
                    if ((error as NodeJS.ErrnoException).code !== "EBUSY" || Date.now() > deadline) break
                  }
                  yield* Effect.sleep("10 millis")
                }
                yield* cgroup.removeLimits
              })
          ).pipe(
            Effect.flatMap((cgroup) =>
              typeof cgroup !== "string" ? Effect.succeed(cgroup) : Effect.as(
                Effect.logWarning(`${name}: ${cgroup}; it is contained by its process group only`),
                undefined
              )
            )
          )
      }
    })
  )

  /** Process groups only: for tests, and hosts that must not touch cgroups. */
  static readonly layerNone: Layer.Layer<Containment> = Layer.succeed(Containment, {
    unavailable: "disabled",
    create: () => Effect.succeed(undefined)
  })
}
