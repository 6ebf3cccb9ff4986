/**
 * `vmre pack`: a TypeScript VM as one file a node runs from its plugin directory, as a Go VM
 * is shipped. The VM's main module and everything it imports are bundled by esbuild into one
 * CommonJS script, which becomes a Node single executable application (`node --build-sea`) of
 * the Node running vmre, with a V8 start-up snapshot of the evaluated bundle: the process
 * starts with the VM's code loaded and `runPlugin` runs (see LazyBuiltins.ts for the built-in
 * modules that wait). A bundle that cannot be snapshotted (its top level opens a socket, say)
 * gets V8's code cache instead, and the result says why. Where that Node cannot build an
 * executable (before 25.5), or with `sea: false`, the result is a `/bin/sh` launcher that runs
 * the bundle with that Node by absolute path: like the executable, it needs no PATH, HOME or
 * working directory.
 * The bundle then lives in `.vmre/` beside the launcher: a node's plugin-directory scan skips
 * subdirectories, and would refuse any other file name that is not a VM ID or alias.
 */
import { Effect, Schema } from "effect"
import { spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { lazyBuiltins, lazyBuiltinsPlugin } from "./LazyBuiltins.ts"

export class PackFailed extends Schema.TaggedError<PackFailed>()("PackFailed", {
  entry: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot pack ${this.entry}: ${this.reason}`
  }
}

export interface PackOptions {
  /** The VM's main module (it calls `runPlugin`). */
  readonly entry: string
  /** The file to write, e.g. `~/.avalanchego/plugins/<VMID>`. */
  readonly out: string
  /** Build a single executable where this Node can (default true). */
  readonly sea?: boolean | undefined
  /** Give the single executable a start-up snapshot, where the bundle allows one (default true). */
  readonly snapshot?: boolean | undefined
  /** Export conditions for resolving packages besides esbuild's defaults (e.g. `@vmre/source`). */
  readonly conditions?: ReadonlyArray<string> | undefined
}

export interface Packed {
  readonly out: string
  /** A single executable, or a launcher with its bundle in `.vmre/`. */
  readonly kind: "single-executable" | "launcher"
  /** How the executable starts: from a snapshot of the evaluated bundle, or compiling it with V8's code cache. */
  readonly startup: "snapshot" | "code-cache" | "bundle"
  /** Why a snapshot was asked for and not made (the executable then uses the code cache). */
  readonly snapshotFailure?: string | undefined
  readonly bytes: number
  readonly bundleBytes: number
  readonly duration: number
}

const isFile = (file: string): boolean => {
  try {
    return statSync(file).isFile()
  } catch {
    return false
  }
}

/** Node ≥ 25.5 builds single executables itself (`--build-sea`). */
export const canBuildSea = (version: string = process.versions.node): boolean => {
  const [major = 0, minor = 0] = version.split(".").map(Number)
  return major > 25 || (major === 25 && minor >= 5)
}

const bundle = (entry: string, outfile: string, conditions: ReadonlyArray<string>, forSnapshot: boolean) =>
  Effect.tryPromise({
    try: async () => {
      const esbuild = await import("esbuild")
      await esbuild.build({
        entryPoints: [entry],
        outfile,
        bundle: true,
        // A single executable's main script is CommonJS.
        format: "cjs",
        platform: "node",
        target: `node${process.versions.node.split(".")[0]}`,
        minify: true,
        conditions: [...conditions],
        // Native addons cannot be inlined; a VM reaches its database through rpcdb anyway.
        external: ["classic-level"],
        plugins: forSnapshot ? [lazyBuiltinsPlugin] : [],
        logLevel: "silent"
      })
    },
    catch: (error) => new PackFailed({ entry, reason: `bundling failed: ${error instanceof Error ? error.message : String(error)}` })
  })

/**
 * Why a build failed, from its output: a JavaScript error thrown by the bundle's top level, or
 * V8's verdict on a heap it cannot serialize (the rest of the output is a native stack trace).
 */
export const buildFailureReason = (output: string, status: number | null, signal: string | null): string => {
  const lines = output.split("\n").map((line) => line.replace(/^#\s*/, "").trim()).filter((line) => line !== "" && line.length < 400)
  const how = signal !== null ? `killed by ${signal}` : `exit ${status}`
  if (lines.some((line) => /CheckGlobalAndEternalHandles|not serialized/.test(line))) {
    const builtins = lazyBuiltins.map((name) => `node:${name}`).join(", ")
    return `the bundle's top level holds native state a snapshot cannot (e.g. one of ${builtins} used at load time, an open socket or timer); V8: CheckGlobalAndEternalHandles failed (${how})`
  }
  const telling = lines.find((line) => /^[A-Za-z]*Error\b|failed/.test(line)) ?? lines[0]
  return telling === undefined ? how : `${telling} (${how})`
}

/**
 * Node options for a process started from a VM's snapshot. Young space starting at 4 MiB
 * (V8's default is 1) lets the start run without a scavenge: the heap a snapshot restores is
 * ~13 MiB, and the first 1 MiB of new objects after it cost one ~3.7 ms scavenge before the
 * first reply (--trace-gc). Spawn → first reply of the example VM, 20 launches each, windows
 * in turn: 99.3 → 90.9 ms; idle RSS 68.6 → 67.8 MiB. V8 still grows young space under load.
 */
export const snapshotStartFlags: ReadonlyArray<string> = ["--min-semi-space-size=4"]

const buildSea = (entry: string, main: string, out: string, work: string, startup: "snapshot" | "code-cache") =>
  Effect.try({
    try: () => {
      const config = path.join(work, `sea-config.${startup}.json`)
      const how = startup === "snapshot" ? { useSnapshot: true, execArgv: snapshotStartFlags } : { useCodeCache: true }
      writeFileSync(config, JSON.stringify({ main, output: out, disableExperimentalSEAWarning: true, ...how }))
      const result = spawnSync(process.execPath, ["--build-sea", config], { cwd: work, encoding: "utf8", timeout: 120_000 })
      if (result.status !== 0) {
        throw new Error(buildFailureReason(`${result.stderr ?? ""}\n${result.stdout ?? ""}`, result.status, result.signal))
      }
    },
    catch: (error) => new PackFailed({ entry, reason: `node --build-sea failed: ${(error as Error).message}` })
  })

// Only shell built-ins: a node starts plugins with an environment that has no PATH.
const launcher = (node: string, bundleName: string) =>
  `#!/bin/sh
# A VM plugin packed by vmre: runs its bundle with the Node it was packed with.
case "$0" in
  */*) here="\${0%/*}" ;;
  *) here="." ;;
esac
exec '${node.replaceAll("'", "'\\''")}' "$here/.vmre/${bundleName}" "$@"
`

/**
 * Puts the built plugin at `out` by a rename within its file system: a node or `vmre registry`
 * scanning the plugin directory meanwhile sees the old file or the new one, never half of one
 * (the copy waits in a hidden subdirectory, which plugin-directory scans skip). The file that
 * `--build-sea` wrote is copied rather than moved also because the page cache holds it in
 * large folios, and a plugin process mapping it counted ~40 MiB more RSS than from a copy.
 */
const install = (entry: string, built: string, out: string) =>
  Effect.try({
    try: () => {
      const staging = mkdtempSync(path.join(path.dirname(out), ".vmre-pack-"))
      try {
        const temporary = path.join(staging, path.basename(out))
        copyFileSync(built, temporary)
        chmodSync(temporary, 0o755)
        renameSync(temporary, out)
      } finally {
        rmSync(staging, { recursive: true, force: true })
      }
    },
    catch: (error) => new PackFailed({ entry, reason: `cannot write ${out}: ${(error as Error).message}` })
  })

/** The absolute paths, the start time, and a scratch directory removed with the scope; fails if there is no entry. */
const begin = (options: { readonly entry: string; readonly out: string }) =>
  Effect.gen(function*() {
    const entry = path.resolve(options.entry)
    const out = path.resolve(options.out)
    const started = performance.now()
    const work = mkdtempSync(path.join(tmpdir(), "vmre-pack-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(work, { recursive: true, force: true })))
    if (!isFile(entry)) return yield* new PackFailed({ entry, reason: "no such file" })
    return { entry, out, started, work }
  })

export const pack = Effect.fn("Pack.pack")(function*(options: PackOptions) {
  const { entry, out, started, work } = yield* begin(options)
  mkdirSync(path.dirname(out), { recursive: true })

  const sea = (options.sea ?? true) && canBuildSea()
  const snapshot = sea && (options.snapshot ?? true)
  const bundleName = `${path.basename(out)}.cjs`
  const bundlePath = sea ? path.join(work, "main.cjs") : path.join(path.dirname(out), ".vmre", bundleName)
  mkdirSync(path.dirname(bundlePath), { recursive: true })
  // The snapshot's bundle runs as well without one (its stand-ins load on first use), so the
  // fallback to the code cache reuses it.
  yield* bundle(entry, bundlePath, options.conditions ?? [], snapshot)
  const bundleBytes = statSync(bundlePath).size

  const built = path.join(work, "plugin")
  const snapshotFailure = snapshot ?
    yield* buildSea(entry, bundlePath, built, work, "snapshot").pipe(
      Effect.as(undefined),
      Effect.catchTag("PackFailed", (failed) => Effect.succeed(failed.reason))
    ) :
    undefined
  const startup: Packed["startup"] = !sea ? "bundle" : snapshot && snapshotFailure === undefined ? "snapshot" : "code-cache"
  if (startup === "code-cache") yield* buildSea(entry, bundlePath, built, work, "code-cache")
  if (startup === "bundle") writeFileSync(built, launcher(process.execPath, bundleName))
  yield* install(entry, built, out)
  return {
    out,
    kind: sea ? "single-executable" : "launcher",
    startup,
    snapshotFailure,
    bytes: statSync(out).size,
    bundleBytes,
    duration: performance.now() - started
  } satisfies Packed
}, Effect.scoped)

export interface SnapshotBlobOptions {
  /** The VM's main module (it calls `runPlugin`). */
  readonly entry: string
  /** The snapshot file to write. */
  readonly out: string
  /** The Node that will run it (`node --snapshot-blob <out>`): a snapshot starts only the Node that built it. Default: this one. */
  readonly node?: string | undefined
  readonly conditions?: ReadonlyArray<string> | undefined
}

/**
 * The start-up snapshot that `vmre pack` puts in a single executable, as a file of its own for
 * `node --snapshot-blob <out>` (a launcher that runs a VM from a repository with its pinned
 * Node, say). Fails with the reason when the bundle cannot be snapshotted.
 */
export const snapshotBlob = Effect.fn("Pack.snapshotBlob")(function*(options: SnapshotBlobOptions) {
  const { entry, out, started, work } = yield* begin(options)
  const bundlePath = path.join(work, "main.cjs")
  yield* bundle(entry, bundlePath, options.conditions ?? [], true)
  const blob = path.join(work, "snapshot.blob")
  const result = spawnSync(options.node ?? process.execPath, ["--snapshot-blob", blob, "--build-snapshot", bundlePath], {
    cwd: work,
    encoding: "utf8",
    timeout: 120_000
  })
  if (result.status !== 0) {
    return yield* new PackFailed({
      entry,
      reason: `node --build-snapshot failed: ${buildFailureReason(`${result.stderr ?? ""}\n${result.stdout ?? ""}`, result.status, result.signal)}`
    })
  }
  mkdirSync(path.dirname(out), { recursive: true })
  yield* install(entry, blob, out)
  return { out, bytes: statSync(out).size, duration: performance.now() - started }
}, Effect.scoped)
