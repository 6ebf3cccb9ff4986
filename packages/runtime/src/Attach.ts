/**
 * Attach mode (what go-plugin calls reattach): instead of starting the plugin, the host
 * listens on a fixed engine address and waits for a plugin that a person started by hand —
 * under a debugger, with `VM_RUNTIME_ENGINE_ADDR` (or the avalanchego/luxd name) set to
 * that address — to call `Initialize`. From then on it is used as a launched plugin is,
 * except that vmre never signals it: stopping it is the `Shutdown` call only.
 *
 * The attached plugin's process is found by the port it serves on (Linux `/proc`), to tell
 * when it is gone; when it cannot be found (another user, another pid namespace), its port
 * is watched instead.
 */
import { Duration, Effect, Option } from "effect"
import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import * as net from "node:net"
import type { ProcessExit } from "./Errors.ts"
import { splitHostPort } from "./Handshake.ts"
import { isAlive } from "./Liveness.ts"
import type { VmProcessHandle } from "./VmProcess.ts"

/** `HOST:PORT` (IPv6 in brackets) as host and port, or undefined. */
export const parseListenAddress = (text: string): { readonly host: string; readonly port: number } | undefined => {
  const split = splitHostPort(text.trim())
  if (split === undefined) return undefined
  const port = Number(split.port)
  if (port < 1 || port > 65535) return undefined
  return { host: split.host.replace(/^\[(.*)\]$/, "$1"), port }
}

/** The pid of the process listening on TCP `port` (this user's processes only), if found. */
export const findListener = (port: number): number | undefined => {
  const inodes = new Set<string>()
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = ""
    try {
      text = readFileSync(table, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      const local = fields[1]
      // Field 3 is the state: 0A is LISTEN; field 9 the socket's inode.
      if (local === undefined || fields[3] !== "0A") continue
      if (parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.add(`socket:[${fields[9]}]`)
    }
  }
  if (inodes.size === 0) return undefined
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let fds: Array<string>
    try {
      fds = readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry)
      } catch {
        // The fd closed while we looked.
      }
    }
  }
  return undefined
}

const accepting = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (up: boolean) => {
      socket.destroy()
      resolve(up)
    }
    socket.setTimeout(2_000, () => done(true))
    socket.once("connect", () => done(true))
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code !== "ECONNREFUSED"))
  })

/** How an attached plugin ended: vmre did not start it, so it cannot know its exit status. */
export const unknownExit: ProcessExit = { code: null, signal: null }

/**
 * A process handle for a plugin vmre did not start: `exit` completes when it is gone (polled
 * every `pollInterval`), `stop` signals nothing, its output is the person's terminal's.
 */
export const attachedHandle = (vmAddr: string, pollInterval: Duration.Input = Duration.millis(250)) =>
  Effect.gen(function*() {
    const address = parseListenAddress(vmAddr)!
    const pid = findListener(address.port)
    let exited = false
    let stopRequested = false
    const gone = pid !== undefined ?
      Effect.sync(() => !isAlive(pid)) :
      Effect.map(Effect.promise(() => accepting(address.host, address.port)), (up) => !up)
    const exit: Effect.Effect<ProcessExit> = Effect.gen(function*() {
      while (!exited) {
        if (yield* gone) exited = true
        else yield* Effect.sleep(pollInterval)
      }
      return unknownExit
    })
    return {
      pid: pid ?? 0,
      exit,
      exitStatus: Effect.sync(() => exited ? Option.some(unknownExit) : Option.none()),
      stop: Effect.sync(() => {
        stopRequested = true
        return unknownExit
      }),
      // Never signalled: vmre did not start it.
      kill: Effect.sync(() => {
        stopRequested = true
        return unknownExit
      }),
      stopRequested: Effect.sync(() => stopRequested),
      groupOutlivedPlugin: Effect.succeed(false),
      drained: () => Effect.void,
      stderrTail: Effect.succeed([]),
      recentLines: Effect.succeed([])
    } satisfies VmProcessHandle
  })
