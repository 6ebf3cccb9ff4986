// The suite's leak check: after every test file has run, no plugin process started by the
// tests (TypeScript fixtures, example VMs, Go interop binaries) may still be alive.
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
// Where the plugins the tests launch live; a process running one of them is a test's child.
const pluginPath = new RegExp(`${escaped}/(packages/[^/]+/test/fixtures/|examples/|interop/go/bin/)`)

const survivors = (): Array<string> => {
  const found: Array<string> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim()
    } catch {
      continue // exited while we looked
    }
    if (!pluginPath.test(cmdline) || cmdline.includes("vitest") || cmdline.includes("go build")) continue
    found.push(`${entry}: ${cmdline}`)
  }
  return found
}

/**
 * Builds the Go interop peers (interop/go/bin/plugin and host) when their sources changed.
 * Without a Go toolchain the Go tests skip locally, but CI (CI=true) must have it.
 */
export const setup = (): void => {
  const build = spawnSync("bash", [`${root}/interop/go/build.sh`], { stdio: "inherit", timeout: 300_000 })
  if (build.status !== 0) {
    const why = `interop/go/build.sh failed (exit ${build.status}); run interop/go/install-deps.sh to install Go`
    if (process.env.CI === "true") throw new Error(why)
    console.warn(`${why}: the Go interop tests will be skipped`)
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
