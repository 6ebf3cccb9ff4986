/**
 * Orphan protection: a plugin must not outlive its host, even when the host is killed with
 * SIGKILL and the plugin ignores SIGTERM and never looks at its parent.
 *
 * Two mechanisms, both outside the plugin's control (Linux):
 * - the plugin is exec'ed through util-linux `setpriv --pdeathsig KILL`, so the kernel sends it
 *   SIGKILL the moment the host's thread that spawned it dies;
 * - a watchdog `/bin/sh` (ignoring INT/TERM/HUP) reads a pipe from the host, which tells it the
 *   process groups to guard; the kernel closes that pipe when the host dies, and the watchdog
 *   then SIGKILLs each plugin's whole process group (so processes the plugins started die too).
 * A plugin's group leaves the set when its launch scope closes, after the plugin has exited.
 * The watchdog belongs to the layer: it starts at the first guarded launch and ends (its pipe
 * closed with nothing left to guard) once the layer is released and its last launch has closed.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants } from "node:fs"

const SETPRIV = "/usr/bin/setpriv"
const SH = "/bin/sh"

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Whether this host can guard its plugins (Linux with util-linux and /bin/sh). */
export const available: boolean = process.platform === "linux" && executable(SETPRIV) && executable(SH)

/** The command line that execs `path` with the parent-death signal set to SIGKILL. */
export const wrapCommand = (
  path: string,
  args: ReadonlyArray<string>
): { readonly command: string; readonly args: ReadonlyArray<string> } =>
  available ? { command: SETPRIV, args: ["--pdeathsig", "KILL", "--", path, ...args] } : { command: path, args }

// It keeps the set of guarded process groups and cgroups from "add X" and "del X" lines on its
// stdin (a number is a process group, a path a cgroup); `read` fails at EOF, i.e. when the host
// is gone, and then it SIGKILLs every group and kills every cgroup still in the set. Pure
// POSIX sh, no external command (it has no PATH).
const watchdogScript = `trap '' INT TERM HUP
g=' '
while read -r op p; do
  case $op in
    add) g="$g$p " ;;
    del) case $g in *" $p "*) g="\${g%% $p *} \${g#* $p }" ;; esac ;;
  esac
done
for p in $g; do
  case $p in
    /*) echo 1 > "$p/cgroup.kill" 2>/dev/null ;;
    *) kill -KILL -"$p" 2>/dev/null ;;
  esac
done`

/** The watchdog of one layer: the guarded groups and the shell process, started on demand. */
const makeWatchdog = () => {
  const guarded = new Set<number | string>()
  let child: ChildProcess | undefined
  let released = false
  const start = (): ChildProcess => {
    const started = spawn(SH, ["-c", watchdogScript], { stdio: ["pipe", "ignore", "ignore"], env: {} })
    started.on("error", () => {})
    started.stdin?.on("error", () => {})
    // If it is ever killed, the next registration starts a new one with the current set.
    started.once("exit", () => {
      if (child === started) child = undefined
    })
    // Never keep the host alive for the watchdog's sake.
    started.unref()
    ;(started.stdin as unknown as { unref?: () => void })?.unref?.()
    for (const pgid of guarded) started.stdin?.write(`add ${pgid}\n`)
    return started
  }
  // EOF with an empty set: the watchdog exits without signalling anything.
  const finish = () => {
    child?.stdin?.end()
    child = undefined
  }
  return {
    add: (pgid: number | string) => {
      guarded.add(pgid)
      if (child === undefined) child = start()
      else child.stdin?.write(`add ${pgid}\n`)
    },
    remove: (pgid: number | string) => {
      guarded.delete(pgid)
      child?.stdin?.write(`del ${pgid}\n`)
      if (released && guarded.size === 0) finish()
    },
    // A launch may outlive the layer that made it (a layer provided around the launch only):
    // its group stays guarded until its own scope closes.
    release: () => {
      released = true
      if (guarded.size === 0) finish()
    }
  }
}

export class OrphanGuard extends Context.Service<OrphanGuard, {
  /** Whether launches are guarded on this host. */
  readonly available: boolean
  /** The command that runs `path` so that the kernel kills it with its host. */
  readonly wrapCommand: typeof wrapCommand
  /**
   * Guards the process group `pgid` until the scope closes (then it is removed from the set
   * without being signalled: by then the group is gone, and its id could be reused). Does
   * nothing where guarding is not available.
   */
  readonly watch: (pgid: number) => Effect.Effect<void, never, Scope.Scope>
  /** The same for a plugin's cgroup (its path): killed with `cgroup.kill` if the host dies. */
  readonly watchCgroup: (path: string) => Effect.Effect<void, never, Scope.Scope>
}>()("@vmre/runtime/OrphanGuard") {
  static readonly layer: Layer.Layer<OrphanGuard> = Layer.effect(
    OrphanGuard,
    Effect.gen(function*() {
      if (!available) {
        return OrphanGuard.of({ available, wrapCommand, watch: () => Effect.void, watchCgroup: () => Effect.void })
      }
      const watchdog = yield* Effect.acquireRelease(Effect.sync(makeWatchdog), (dog) => Effect.sync(dog.release))
      return OrphanGuard.of({
        available,
        wrapCommand,
        watch: (pgid) =>
          Effect.acquireRelease(
            Effect.sync(() => watchdog.add(pgid)),
            () => Effect.sync(() => watchdog.remove(pgid))
          ),
        // A path with a space would split in the watchdog's words: such a cgroup is not guarded.
        watchCgroup: (path) =>
          /\s/.test(path) ? Effect.void : Effect.acquireRelease(
            Effect.sync(() => watchdog.add(path)),
            () => Effect.sync(() => watchdog.remove(path))
          )
      })
    })
  )
}
