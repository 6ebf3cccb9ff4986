/**
 * Builds the plugin's production entry: src/main.ts and everything it imports (effect,
 * Connect, protobuf, the SDK) bundled by esbuild into minified ESM, dist/payload-chain.mjs,
 * which bin/payload-chain runs when it exists, and its chunks in dist/chunks/ (the start loads
 * the few it imports; what is imported lazily — Connect's engine, the OTLP exporter — stays
 * unloaded, with its `node:http`). A few files that Node parses once start in a fraction of the
 * time of ~400 modules resolved and type-stripped one by one (figures in README.md,
 * "Performance of the plugin entry").
 *
 *   node examples/payload-chain/build.ts             build (`npm run build`; `npm ci` runs it)
 *   node examples/payload-chain/build.ts --if-stale  build only if a source changed since
 *
 * The bundle is a build product (gitignored). Next to it, dist/payload-chain.inputs.json
 * lists every file that went into it: the bundle is stale when one of them is newer than it
 * (`isFresh`); the demo and the tests rebuild a stale bundle. dist/payload-chain.sources
 * lists the repository's own files among them, which bin/payload-chain checks (with shell
 * built-ins) before it runs the bundle: a bundle older than the sources is never run.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, "../..")
export const bundlePath = join(here, "dist/payload-chain.mjs")
const inputsPath = join(here, "dist/payload-chain.inputs.json")
/** The repository's own inputs, relative to this directory, one a line: the launcher checks them. */
const sourcesPath = join(here, "dist/payload-chain.sources")
/** The start-up snapshot of the evaluated VM (bin/payload-chain starts from it when it is fresh). */
export const snapshotPath = join(here, "dist/payload-chain.blob")
/** V8's compile cache of the bundle (bin/payload-chain sets NODE_COMPILE_CACHE to it). */
export const compileCachePath = join(here, "dist/compile-cache")
const thisFile = fileURLToPath(import.meta.url)

/** Writes `data` to `path` by a rename, so that a concurrent reader never sees half a file. */
const writeAtomically = (path: string, data: string | Uint8Array) => {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, data)
  renameSync(temporary, path)
}

/** Bundles src/main.ts into dist/payload-chain.mjs; answers its size and the number of inputs. */
export const build = async (): Promise<{
  readonly bytes: number
  readonly inputs: number
  readonly millis: number
  /** Why there is no start-up snapshot, if there is none. */
  readonly snapshotFailure: string | undefined
}> => {
  const started = performance.now()
  // Loaded here, not at the top: a fresh bundle costs its users no esbuild start-up.
  const esbuild = await import("esbuild")
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(here, "src/main.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    // The workspace packages' TypeScript sources, not their dist/ builds.
    conditions: ["@vmre/source"],
    target: "node22.18",
    minify: true,
    treeShaking: true,
    // The plugin reaches its database through the rpcdb client; the native LevelDB module
    // belongs to the node side only. Kept out in any case: a native addon cannot be inlined.
    external: ["classic-level"],
    legalComments: "linked",
    sourcemap: "linked",
    metafile: true,
    write: false,
    // What the start does not need (Connect's node transport, loaded only for its engine) in
    // chunks of its own, so that their imports (node:http, and with it undici) wait too.
    splitting: true,
    outdir: dirname(bundlePath),
    entryNames: "payload-chain",
    chunkNames: "chunks/[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    logLevel: "warning"
  })
  const inputs = Object.keys(result.metafile.inputs).map((input) => resolve(root, input))
  if (inputs.some((input) => input.includes("/classic-level/"))) {
    throw new Error("the plugin bundle must not contain classic-level (the plugin side uses the rpcdb client only)")
  }
  mkdirSync(dirname(bundlePath), { recursive: true })
  let bytes = 0
  // The map and the licence file first, the bundle last: its appearance completes the build.
  const outputs = [...result.outputFiles].sort((a, b) => Number(a.path === bundlePath) - Number(b.path === bundlePath))
  writeAtomically(inputsPath, JSON.stringify([...inputs, thisFile], null, 1))
  // bin/payload-chain runs the sources instead of a bundle older than one of these (the
  // dependencies in node_modules change only by npm, which runs this build again).
  const sources = inputs.filter((input) => !input.includes("/node_modules/")).map((input) => relative(here, input))
  writeAtomically(sourcesPath, `${sources.join("\n")}\n`)
  // Old chunks stay: their names are content hashes, and a plugin started from the previous
  // bundle may still load one of them lazily.
  for (const output of outputs) {
    mkdirSync(dirname(output.path), { recursive: true })
    writeAtomically(output.path, output.contents)
    if (output.path === bundlePath) bytes = output.contents.length
  }
  // Entries for older bundles would never be used again (the cache is keyed by content).
  rmSync(compileCachePath, { recursive: true, force: true })
  await warmCompileCache()
  const snapshotFailure = await buildSnapshot()
  return { bytes, inputs: inputs.length, millis: performance.now() - started, snapshotFailure }
}

/**
 * The start-up snapshot of the VM (`vmre pack`'s, as a file), built by the launcher's Node, the
 * only Node it can start: bin/payload-chain starts from it while it is newer than the sources,
 * with the bundle already evaluated. Best effort: without it the launcher runs the bundle.
 */
const buildSnapshot = async (): Promise<string | undefined> => {
  rmSync(snapshotPath, { force: true })
  const [{ Pack }, { Effect, Exit, Cause }] = await Promise.all([import("@vmre/cli"), import("effect")])
  const node = join(root, "node_modules/node/bin/node")
  const exit = await Effect.runPromiseExit(Pack.snapshotBlob({
    entry: join(here, "src/main.ts"),
    out: snapshotPath,
    node: existsSync(node) ? node : process.execPath,
    conditions: ["@vmre/source"]
  }))
  return Exit.isSuccess(exit) ? undefined : Cause.pretty(exit.cause)
}

/**
 * Runs the bundle once, with the launcher's Node and compile cache directory, against an
 * engine address where nobody listens: it loads, serves, fails its handshake and exits,
 * leaving the compiled code in the cache. So even the first launch after a build starts
 * warm (a cold start compiles the whole bundle: ~40 ms more). Best effort: a failure here
 * only means that the first real launch fills the cache.
 */
const warmCompileCache = async () => {
  const node = join(root, "node_modules/node/bin/node")
  const port = await new Promise<number>((resolvePort, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolvePort(port))
    })
  })
  spawnSync(existsSync(node) ? node : process.execPath, [bundlePath], {
    cwd: "/",
    env: { VM_RUNTIME_ENGINE_ADDR: `127.0.0.1:${port}`, NODE_COMPILE_CACHE: compileCachePath },
    stdio: "ignore",
    timeout: 10_000,
    // A plugin ignores SIGTERM until the node has called Shutdown.
    killSignal: "SIGKILL"
  })
}

/** Whether dist/payload-chain.mjs exists and no file it was built from has changed since. */
export const isFresh = (): boolean => {
  try {
    const built = statSync(bundlePath).mtimeMs
    const inputs: ReadonlyArray<string> = JSON.parse(readFileSync(inputsPath, "utf8"))
    return inputs.every((input) => statSync(input).mtimeMs <= built)
  } catch {
    return false
  }
}

/** Builds the bundle if it is missing or stale; answers whether it did. */
export const ensureFresh = async (): Promise<boolean> => {
  if (isFresh()) return false
  await build()
  return true
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === thisFile) {
  const ifStale = process.argv.includes("--if-stale")
  if (ifStale && isFresh()) {
    console.log(`payload-chain: ${bundlePath} is up to date`)
  } else {
    build().then(
      ({ bytes, inputs, millis, snapshotFailure }) =>
        console.log(
          `payload-chain: built ${bundlePath} (${(bytes / 1024).toFixed(0)} KiB from ${inputs} files in ${
            millis.toFixed(0)
          } ms)${snapshotFailure === undefined ? ", with a start-up snapshot" : `; no start-up snapshot: ${snapshotFailure}`}`
        ),
      (error: unknown) => {
        console.error(`payload-chain: build failed: ${error instanceof Error ? error.message : String(error)}`)
        process.exitCode = 1
      }
    )
  }
}
