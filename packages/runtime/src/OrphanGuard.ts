/**
 * Orphan protection: a plugin must not outlive its host, even when the host is killed with
 * SIGKILL and the plugin ignores SIGTERM and never looks at its parent.
 *
 * Two mechanisms, both outside the plugin's control (Linux):
 * - the plugin is exec'ed through util-linux `setpriv --pdeathsig KILL`, so the kernel sends it
 *   SIGKILL the moment the host's thread that spawned it dies;
 * - one watchdog `/bin/sh` per host (ignoring INT/TERM/HUP) reads a pipe from the host, which
 *   tells it the process groups to guard; the kernel closes that pipe when the host dies, and
 *   the watchdog then SIGKILLs each plugin's whole process group (so processes the plugins
 *   started die too).
 * A plugin's group leaves the set when its launch scope closes, after the plugin has exited.
 */
import { Effect, type Scope } from "effect"
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

// One watchdog per host. It keeps the set of guarded process groups from "add PGID" and
// "del PGID" lines on its stdin; `read` fails at EOF, i.e. when the host is gone, and then it
// SIGKILLs every group still in the set. Pure POSIX sh, no external command (it has no PATH).
const watchdogScript = `trap '' INT TERM HUP
g=' '
while read -r op p; do
  case $op in
    add) g="$g$p " ;;
    del) case $g in *" $p "*) g="\${g%% $p *} \${g#* $p }" ;; esac ;;
  esac
done
for p in $g; do kill -KILL -"$p" 2>/dev/null; done`

const guarded = new Set<number>()
let watchdog: ChildProcess | undefined

const send = (line: string): void => {
  if (watchdog === undefined) {
    const child = spawn(SH, ["-c", watchdogScript], { stdio: ["pipe", "ignore", "ignore"], env: {} })
    child.on("error", () => {})
    child.stdin?.on("error", () => {})
    // If it is ever killed, the next registration starts a new one with the current set.
    child.once("exit", () => {
      if (watchdog === child) watchdog = undefined
    })
    // Never keep the host alive for the watchdog's sake.
    child.unref()
    ;(child.stdin as unknown as { unref?: () => void })?.unref?.()
    watchdog = child
    for (const pgid of guarded) child.stdin?.write(`add ${pgid}\n`)
    if (line.startsWith("add ") && guarded.has(Number(line.slice(4)))) return
  }
  watchdog.stdin?.write(`${line}\n`)
}

/**
 * Guards the process group `pgid` until the scope closes (then it is removed from the set
 * without being signalled: by then the group is gone, and its id could be reused). Does
 * nothing where guarding is not available.
 */
export const watch = (pgid: number): Effect.Effect<void, never, Scope.Scope> =>
  available ?
    Effect.acquireRelease(
      Effect.sync(() => {
        guarded.add(pgid)
        send(`add ${pgid}`)
      }),
      () =>
        Effect.sync(() => {
          guarded.delete(pgid)
          send(`del ${pgid}`)
        })
    ) :
    Effect.void
