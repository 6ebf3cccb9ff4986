/**
 * Orphan protection: a plugin must not outlive its host, even when the host is killed with
 * SIGKILL and the plugin ignores SIGTERM and never looks at its parent.
 *
 * Two mechanisms, both outside the plugin's control (Linux):
 * - the plugin is exec'ed through util-linux `setpriv --pdeathsig KILL`, so the kernel sends it
 *   SIGKILL the moment the host's thread that spawned it dies;
 * - a watchdog `/bin/sh` (ignoring INT/TERM/HUP) blocks reading a pipe from the host; the kernel
 *   closes that pipe when the host dies, and the watchdog then SIGKILLs the plugin's whole
 *   process group (so processes the plugin started die too).
 * On a normal stop the watchdog is killed after the plugin has exited.
 */
import { Effect, type Scope } from "effect"
import { spawn } from "node:child_process"
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

// $0 is the process group to kill. `read` returns at EOF, i.e. when the host is gone.
const watchdogScript = "trap '' INT TERM HUP; read -r _; kill -KILL -\"$0\" 2>/dev/null"

/**
 * Starts a watchdog for the process group `pgid`, stopped (without firing) when the scope
 * closes. Does nothing where guarding is not available.
 */
export const watch = (pgid: number): Effect.Effect<void, never, Scope.Scope> =>
  available ?
    Effect.acquireRelease(
      Effect.sync(() => {
        const watchdog = spawn(SH, ["-c", watchdogScript, String(pgid)], {
          stdio: ["pipe", "ignore", "ignore"],
          env: {}
        })
        watchdog.on("error", () => {})
        watchdog.stdin?.on("error", () => {})
        // Never keep the host alive for the watchdog's sake.
        watchdog.unref()
        ;(watchdog.stdin as unknown as { unref?: () => void })?.unref?.()
        return watchdog
      }),
      (watchdog) =>
        Effect.sync(() => {
          // SIGKILL, not EOF: EOF would make it fire at a process group that no longer exists
          // and whose id could already be reused.
          watchdog.kill("SIGKILL")
        })
    ).pipe(Effect.asVoid) :
    Effect.void
