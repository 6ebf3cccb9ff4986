// The suite's global setup: builds the Go interop peers, and checks at the end that no
// process started by the tests (plugins, the processes they started, test hosts) survives.
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")

// Every process the tests start inherits this marker: test workers inherit it from here, and
// the runtime (like the Go nodes) passes its GRPC_* variables on to every plugin it launches.
const MARKER = "GRPC_VMRE_TEST_RUN"
const runId = randomUUID()

const survivors = (): Array<string> => {
  const found: Array<string> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    let environ: string
    let cmdline: string
    try {
      environ = readFileSync(`/proc/${entry}/environ`, "utf8")
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim()
    } catch {
      continue // exited while we looked, or a kernel thread
    }
    if (!environ.split("\0").includes(`${MARKER}=${runId}`)) continue
    if (cmdline.includes("vitest")) continue // the test workers themselves
    const state = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.[0]
    if (state === "Z") continue // dead, waiting to be reaped by its parent
    found.push(`${entry}: ${cmdline}`)
  }
  return found
}

export const setup = (): void => {
  process.env[MARKER] = runId
  // Builds interop/go/bin/{plugin,host} when their inputs changed. Without a Go toolchain the
  // Go tests skip locally, but CI (CI=true) must have it.
  // Processes the tests start with a bare environment (plugins, as the nodes start them) import
  // the packages' dist/ builds: bring them up to date (incremental, ~0.3 s when nothing changed).
  const packages = spawnSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, "-b", `${root}/tsconfig.build.json`], {
    stdio: "inherit",
    timeout: 120_000
  })
  if (packages.status !== 0) throw new Error(`building the packages (tsc -b tsconfig.build.json) failed (exit ${packages.status})`)

  const build = spawnSync("bash", [`${root}/interop/go/build.sh`], { stdio: "inherit", timeout: 300_000 })
  if (build.status !== 0) {
    const why = `interop/go/build.sh failed (exit ${build.status}); run interop/go/install-deps.sh to install Go`
    if (process.env.CI === "true") throw new Error(why)
    console.warn(`${why}: the Go interop tests will be skipped`)
  }

  // The C-core peers' message descriptors, from Debian's protoc; without python3-grpcio the
  // C-core tests skip locally, and CI (CI=true) must have it.
  const ccore = spawnSync("bash", [`${root}/interop/ccore/build.sh`], { stdio: "inherit", timeout: 60_000 })
  if (ccore.status !== 0) {
    const why = `interop/ccore/build.sh failed (exit ${ccore.status}); run interop/ccore/install-deps.sh`
    if (process.env.CI === "true") throw new Error(why)
    console.warn(`${why}: the C-core interop tests will be skipped`)
  }
}

export const teardown = async (): Promise<void> => {
  // Give the kernel a moment to finish reaping processes that were just killed.
  const deadline = Date.now() + 2_000
  let left = survivors()
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    left = survivors()
  }
  if (left.length > 0) {
    throw new Error(`leak check: ${left.length} process(es) started by the tests are still running:\n${left.join("\n")}`)
  }
}
