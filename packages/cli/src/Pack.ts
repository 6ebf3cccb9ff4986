/**
 * `vmre pack`: a TypeScript VM as one file a node runs from its plugin directory, as a Go VM
 * is shipped. The VM's main module and everything it imports are bundled by esbuild into one
 * CommonJS script, which becomes a Node single executable application (`node --build-sea`,
 * with V8's code cache) of the Node running vmre. Where that Node cannot build one (before
 * 25.5), or with `sea: false`, the result is a `/bin/sh` launcher that runs the bundle with
 * that Node by absolute path: like the executable, it needs no PATH, HOME or working directory.
 * The bundle then lives in `.vmre/` beside the launcher: a node's plugin-directory scan skips
 * subdirectories, and would refuse any other file name that is not a VM ID or alias.
 */
import { Effect, Schema } from "effect"
import { spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

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
  /** Export conditions for resolving packages besides esbuild's defaults (e.g. `@vmre/source`). */
  readonly conditions?: ReadonlyArray<string> | undefined
}

export interface Packed {
  readonly out: string
  /** A single executable, or a launcher with its bundle in `.vmre/`. */
  readonly kind: "single-executable" | "launcher"
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

const bundle = (entry: string, outfile: string, conditions: ReadonlyArray<string>) =>
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
        logLevel: "silent"
      })
    },
    catch: (error) => new PackFailed({ entry, reason: `bundling failed: ${error instanceof Error ? error.message : String(error)}` })
  })

const buildSea = (entry: string, main: string, out: string, work: string) =>
  Effect.try({
    try: () => {
      const config = path.join(work, "sea-config.json")
      writeFileSync(config, JSON.stringify({ main, output: out, disableExperimentalSEAWarning: true, useCodeCache: true }))
      const result = spawnSync(process.execPath, ["--build-sea", config], { cwd: work, encoding: "utf8", timeout: 120_000 })
      if (result.status !== 0) throw new Error((result.stderr || result.stdout || `exit ${result.status}`).trim())
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

export const pack = Effect.fn("Pack.pack")(function*(options: PackOptions) {
  const entry = path.resolve(options.entry)
  const out = path.resolve(options.out)
  const started = performance.now()
  const work = mkdtempSync(path.join(tmpdir(), "vmre-pack-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(work, { recursive: true, force: true })))
  if (!isFile(entry)) return yield* new PackFailed({ entry, reason: "no such file" })
  mkdirSync(path.dirname(out), { recursive: true })

  const sea = (options.sea ?? true) && canBuildSea()
  const bundleName = `${path.basename(out)}.cjs`
  const bundlePath = sea ? path.join(work, "main.cjs") : path.join(path.dirname(out), ".vmre", bundleName)
  mkdirSync(path.dirname(bundlePath), { recursive: true })
  yield* bundle(entry, bundlePath, options.conditions ?? [])
  const bundleBytes = statSync(bundlePath).size

  if (sea) {
    yield* buildSea(entry, bundlePath, out, work)
  } else {
    writeFileSync(out, launcher(process.execPath, bundleName))
  }
  chmodSync(out, 0o755)
  return {
    out,
    kind: sea ? "single-executable" : "launcher",
    bytes: statSync(out).size,
    bundleBytes,
    duration: performance.now() - started
  } satisfies Packed
}, Effect.scoped)
