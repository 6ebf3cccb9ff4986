/**
 * Hygiene under load: many launch → handshake → Version → stop cycles, one after the other
 * and 32 at once, must leave this process as they found it: no file descriptors, listening
 * sockets, child processes (plugins, orphan watchdogs, zombies) or memory accumulate.
 *
 * The Go plugin (interop/go/bin/plugin, ~5 ms to its handshake) carries the volume; a few
 * cycles of the TypeScript example VM (examples/payload-chain, started from .ts source)
 * cover a plugin written with our SDK. Every cycle goes through `ChainVm.launch`, so the
 * whole upstream stop sequence runs (Shutdown → close the connection → SIGTERM → exit 0).
 *
 * Baselines are taken after a few warm-up cycles (lazy module loads, the first sockets of
 * the HTTP/2 machinery, JIT code). The figures are printed for the README.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { ChainVm, type ChainVmConfig } from "../src/index.ts"
import type { ProcessExit } from "../src/Errors.ts"
import { VmRuntime } from "../src/VmRuntime.ts"
import { goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { forceGc } from "../../../test-support/gc.ts"

// ---------------------------------------------------------------------------------------
// Bounds (growth from the baseline, measured after the load and a settle of at most 3 s)
// ---------------------------------------------------------------------------------------

/** Sequential Go cycles; 32 VMs at once (the brief's figures). */
const CYCLES = 200
const CONCURRENT = 32
const WARMUP_CYCLES = 5
/** TypeScript plugin cycles: each costs ~0.3–1 s of Node start-up, so only a handful. */
const TS_CYCLES = 3

/**
 * File descriptors: every cycle opens pipes (stdout, stderr, the watchdog's stdin), the
 * handshake server's socket and the client's HTTP/2 socket, and must close all of them. A
 * few descriptors may legitimately appear late (libuv's lazily created signal pipe, a DNS
 * or worker resource of a module first used during the run), never one per cycle: 4 is
 * far below the 200+ a per-cycle leak would show.
 */
const FD_GROWTH_BOUND = 4
/** Listening sockets: the handshake server is closed after each handshake. None may remain. */
const LISTEN_GROWTH_BOUND = 0
/** Children (each plugin, exec'ed by `setpriv`, and its orphan watchdog `/bin/sh`): all stopped and reaped. */
const CHILD_GROWTH_BOUND = 0
/** Zombies: a child that exited but was never reaped (waitpid) is a leak too. */
const ZOMBIE_GROWTH_BOUND = 0
/**
 * Heap after forced GC. The first few hundred cycles add 1.5–2 MiB that then stays flat
 * (V8's optimised code and type feedback, Effect's bounded metrics): over 800 cycles the
 * growth measured +1.5, +2.0, +1.5 and −0.1 MiB at 200, 400, 600 and 800. A leak of 20 KiB
 * per cycle (one client with its HTTP/2 session, or a fiber tree) adds 4 MiB over 200.
 */
const HEAP_GROWTH_BOUND = 4 * 1024 * 1024
/**
 * Without `gc` only RSS is available, which moves with the allocator's whims (arenas kept,
 * heap not yet collected): a generous bound that still catches a leak of retained buffers.
 */
const RSS_GROWTH_BOUND = 96 * 1024 * 1024
/** A settled process reaches its bounds within this (exits reaped, sockets closed). */
const SETTLE_MILLIS = 3_000

// ---------------------------------------------------------------------------------------
// Measuring this process
// ---------------------------------------------------------------------------------------


interface Snapshot {
  readonly fds: number
  readonly listening: number
  readonly children: number
  readonly zombies: number
  readonly heapUsed: number
  readonly rss: number
}

const fdTargets = (): Array<string> => {
  const targets: Array<string> = []
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`))
    } catch {
      // closed meanwhile (among others, the directory handle readdirSync used)
    }
  }
  return targets
}

/** Sockets in state LISTEN (0A) of /proc/net/tcp{,6} whose inode is one of our descriptors. */
const listeningSockets = (targets: ReadonlyArray<string>): number => {
  const inodes = new Set<string>()
  for (const target of targets) {
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match !== null) inodes.add(match[1]!)
  }
  let count = 0
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string
    try {
      text = readFileSync(table, "utf8")
    } catch {
      continue // no IPv6 on this machine
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length > 9 && fields[3] === "0A" && inodes.has(fields[9]!)) count++
    }
  }
  return count
}

/** Processes whose parent is this process (not vitest's own): [live, zombies]. */
const childProcesses = (): { readonly live: Array<string>; readonly zombies: number } => {
  const live: Array<string> = []
  let zombies = 0
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    let cmdline: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim()
    } catch {
      continue // exited while we looked
    }
    // The command name may hold spaces and parentheses: the fields start after the last ")".
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (Number(ppid) !== process.pid || cmdline.includes("vitest")) continue
    if (state === "Z") zombies++
    else live.push(`${entry} ${cmdline}`)
  }
  return { live, zombies }
}

/** The figures now; with `collect`, after forcing full garbage collections first. */
const snapshot = (collect = false): Snapshot => {
  if (collect) {
    forceGc?.()
    forceGc?.()
  }
  const targets = fdTargets()
  const children = childProcesses()
  const memory = process.memoryUsage()
  return {
    fds: targets.length,
    listening: listeningSockets(targets),
    children: children.live.length,
    zombies: children.zombies,
    heapUsed: memory.heapUsed,
    rss: memory.rss
  }
}

const withinBounds = (base: Snapshot, now: Snapshot): boolean =>
  now.fds - base.fds <= FD_GROWTH_BOUND &&
  now.listening - base.listening <= LISTEN_GROWTH_BOUND &&
  now.children - base.children <= CHILD_GROWTH_BOUND &&
  now.zombies - base.zombies <= ZOMBIE_GROWTH_BOUND

/**
 * The baseline: waits (at most SETTLE_MILLIS) until none of our children is left, not even
 * the zombie of the last orphan watchdog, which is SIGKILLed after its plugin exited and
 * reaped a moment later.
 */
const baseline = Effect.gen(function*() {
  const deadline = Date.now() + SETTLE_MILLIS
  let now = snapshot()
  while ((now.children > 0 || now.zombies > 0) && Date.now() < deadline) {
    yield* Effect.sleep("20 millis")
    now = snapshot()
  }
  return snapshot(true)
})

/** Polls until descriptors, sockets and children are back within bounds (at most SETTLE_MILLIS). */
const settled = (base: Snapshot) =>
  Effect.gen(function*() {
    const deadline = Date.now() + SETTLE_MILLIS
    let now = snapshot()
    while (!withinBounds(base, now) && Date.now() < deadline) {
      yield* Effect.sleep("50 millis")
      now = snapshot()
    }
    return snapshot(true)
  })

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const describeSnapshot = (s: Snapshot) =>
  `fds ${s.fds}, listening ${s.listening}, children ${s.children} (zombies ${s.zombies}), ` +
  `heapUsed ${mib(s.heapUsed)}, rss ${mib(s.rss)}`

const report = (label: string, base: Snapshot, after: Snapshot, extra = "") =>
  console.log(
    `[soak] ${label}${extra}\n` +
      `[soak]   before: ${describeSnapshot(base)}\n` +
      `[soak]   after:  ${describeSnapshot(after)}\n` +
      `[soak]   growth: fds ${after.fds - base.fds} (bound ${FD_GROWTH_BOUND}), listening ${
        after.listening - base.listening
      } (bound ${LISTEN_GROWTH_BOUND}), children ${after.children - base.children} (bound ${CHILD_GROWTH_BOUND}), ` +
      `zombies ${after.zombies - base.zombies} (bound ${ZOMBIE_GROWTH_BOUND}), heapUsed ${
        mib(after.heapUsed - base.heapUsed)
      }${forceGc === undefined ? " (no gc)" : ` (bound ${mib(HEAP_GROWTH_BOUND)})`}, rss ${
        mib(after.rss - base.rss)
      }${forceGc === undefined ? ` (bound ${mib(RSS_GROWTH_BOUND)})` : ""}`
  )

const expectNoGrowth = (base: Snapshot, after: Snapshot) => {
  expect(after.fds - base.fds).toBeLessThanOrEqual(FD_GROWTH_BOUND)
  expect(after.listening - base.listening).toBeLessThanOrEqual(LISTEN_GROWTH_BOUND)
  expect(after.children - base.children).toBeLessThanOrEqual(CHILD_GROWTH_BOUND)
  expect(after.zombies - base.zombies).toBeLessThanOrEqual(ZOMBIE_GROWTH_BOUND)
  if (forceGc !== undefined) expect(after.heapUsed - base.heapUsed).toBeLessThanOrEqual(HEAP_GROWTH_BOUND)
  else expect(after.rss - base.rss).toBeLessThanOrEqual(RSS_GROWTH_BOUND)
}

// ---------------------------------------------------------------------------------------
// The cycles
// ---------------------------------------------------------------------------------------

const live = Layer.merge(VmRuntime.layer, Logger.layer([]))

/** Launch, handshake, one Version call, then the stop sequence; the exit of the plugin. */
const cycle = (config: ChainVmConfig, expectedVersion: RegExp) =>
  Effect.gen(function*() {
    const { client, vm } = yield* ChainVm.launch(config)
    expect(yield* client.version()).toMatch(expectedVersion)
    return vm
  }).pipe(
    Effect.scoped,
    // The scope is closed: the stop sequence ran and the process was reaped.
    Effect.flatMap((vm) => vm.exit)
  )

const cleanExits = (exits: ReadonlyArray<ProcessExit>) => exits.filter((e) => e.code === 0 && e.signal === null).length

const goConfig = (name: string): ChainVmConfig => ({
  path: goPluginPath,
  name,
  callTimeout: "10 seconds",
  stopTimeout: "5 seconds"
})

const payloadChain = fileURLToPath(new URL("../../../examples/payload-chain/bin/payload-chain", import.meta.url))

describe.skipIf(skipGo)("soak: the Go plugin through ChainVm.launch", () => {
  it.live(`${CYCLES} sequential cycles, then ${CONCURRENT} VMs at once, leave nothing behind`, () =>
    Effect.gen(function*() {
      const go = goConfig("soak-go")
      for (let i = 0; i < WARMUP_CYCLES; i++) yield* cycle(go, /^goplugin\//)
      const base = yield* baseline

      // Sequential.
      const exits: Array<ProcessExit> = []
      const started = Date.now()
      for (let i = 0; i < CYCLES; i++) exits.push(yield* cycle(go, /^goplugin\//))
      const seconds = (Date.now() - started) / 1000
      const afterSequential = yield* settled(base)
      report(
        `${CYCLES} sequential cycles`,
        base,
        afterSequential,
        `: ${seconds.toFixed(1)} s, ${(CYCLES / seconds).toFixed(1)} cycles/s, ${
          (seconds * 1000 / CYCLES).toFixed(1)
        } ms/cycle`
      )
      expect(cleanExits(exits)).toBe(CYCLES)
      expectNoGrowth(base, afterSequential)

      // Concurrent: all up at once, measured at the peak, then all stopped with the scope.
      const concurrentStarted = Date.now()
      const [peak, upMillis, concurrentExits] = yield* Effect.gen(function*() {
        const vms = yield* Effect.forEach(
          Array.from({ length: CONCURRENT }, (_, i) => i),
          (i) =>
            Effect.gen(function*() {
              const { client, vm } = yield* ChainVm.launch(goConfig(`soak-go-${i}`))
              expect(yield* client.version()).toMatch(/^goplugin\//)
              return vm
            }),
          { concurrency: "unbounded" }
        )
        const upMillis = Date.now() - concurrentStarted
        const peak = snapshot()
        return [peak, upMillis, vms] as const
      }).pipe(
        Effect.scoped,
        Effect.flatMap(([peak, upMillis, vms]) =>
          Effect.map(Effect.forEach(vms, (vm) => vm.exit), (exits) => [peak, upMillis, exits] as const)
        )
      )
      const downMillis = Date.now() - concurrentStarted - upMillis
      const afterConcurrent = yield* settled(base)
      report(
        `${CONCURRENT} concurrent VMs`,
        base,
        afterConcurrent,
        `: all up (launch + Version) in ${upMillis} ms, all stopped in ${downMillis} ms; at the peak: ${
          describeSnapshot(peak)
        }`
      )
      // At the peak every VM was really running as our child.
      expect(peak.children - base.children).toBeGreaterThanOrEqual(CONCURRENT)
      expect(cleanExits(concurrentExits)).toBe(CONCURRENT)
      expectNoGrowth(base, afterConcurrent)
    }).pipe(Effect.provide(live)), 60_000)
})

describe.skipIf(!existsSync(payloadChain))("soak: the TypeScript example VM through ChainVm.launch", () => {
  it.live(`${TS_CYCLES} cycles of examples/payload-chain leave nothing behind`, () =>
    Effect.gen(function*() {
      const config: ChainVmConfig = { path: payloadChain, name: "soak-ts", callTimeout: "10 seconds" }
      yield* cycle(config, /\S/)
      const base = yield* baseline
      const exits: Array<ProcessExit> = []
      const started = Date.now()
      for (let i = 0; i < TS_CYCLES; i++) exits.push(yield* cycle(config, /\S/))
      const millis = Date.now() - started
      const after = yield* settled(base)
      report(`${TS_CYCLES} payload-chain cycles`, base, after, `: ${(millis / TS_CYCLES).toFixed(0)} ms/cycle`)
      expect(cleanExits(exits)).toBe(TS_CYCLES)
      expectNoGrowth(base, after)
    }).pipe(Effect.provide(live)), 30_000)
})
