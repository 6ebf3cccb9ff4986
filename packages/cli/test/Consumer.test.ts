/**
 * vmre as a new user gets it: every publishable package packed with `npm pack`, installed
 * from the tarballs into a project outside the repository together with the lowest effect
 * the peer range allows, then used as that project would use it: plain JavaScript imports,
 * a strict type check of the documented API, a program that launches a plugin through the
 * installed runtime, and the installed `vmre` bin checking a plugin.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { examplePlugin, repoRoot } from "./support.ts"

const packages = ["proto", "wire", "transport", "rpcdb", "runtime", "node", "plugin", "cli"]
const consumerFiles = fileURLToPath(new URL("./consumer/", import.meta.url))
/** The lowest versions the peer ranges (^4.1.0) allow. */
const effectVersion = "4.1.0"
const rootPackage = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>
}

/** Runs a command to its end (bounded); fails the test with its output if it fails. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeout = 120_000) => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout, env: { ...process.env, CI: "true" } })
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`)
  }
  return result.stdout
}

/** Every installed copy of a package (by its package.json's name), below `dir`. */
const copiesOf = (dir: string, name: string): Array<string> => {
  const found: Array<string> = []
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      const child = join(path, entry.name)
      if (entry.name === "node_modules") {
        for (const inner of readdirSync(child, { withFileTypes: true })) {
          if (!inner.isDirectory()) continue
          const scoped = inner.name.startsWith("@") ?
            readdirSync(join(child, inner.name)).map((n) => join(child, inner.name, n)) :
            [join(child, inner.name)]
          for (const pkg of scoped) {
            try {
              if ((JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { name?: string }).name === name) {
                found.push(pkg)
              }
            } catch {
              // not a package
            }
            walk(pkg)
          }
        }
      }
    }
  }
  walk(dir)
  return found
}

describe("installed from npm tarballs into a project of its own", () => {
  it.live("imports as JavaScript, type-checks strictly, launches a plugin, and its vmre packs a VM of the project and checks it", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "vmre-consumer-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const tarballs = join(dir, "tarballs")
      const app = join(dir, "app")
      for (const path of [tarballs, app]) execFileSync("mkdir", ["-p", path])

      // The global setup built dist/; npm pack takes what `files` lists.
      const packed = JSON.parse(
        run("npm", ["pack", "--json", "--pack-destination", tarballs, ...packages.flatMap((p) => ["-w", `packages/${p}`])], repoRoot)
      ) as Array<{ filename: string; files: Array<{ path: string }> }>
      expect(packed.map((p) => p.filename).sort()).toEqual(packages.map((p) => `vmre-${p}-0.1.0.tgz`).sort())
      for (const tarball of packed) {
        const paths = tarball.files.map((f) => f.path)
        expect(paths, tarball.filename).toContain("LICENSE")
        expect(paths.some((p) => p.startsWith("dist/") && p.endsWith(".d.ts")), tarball.filename).toBe(true)
        expect(paths.filter((p) => p.startsWith("test/") || p.includes("fixtures") || p.endsWith(".tsbuildinfo"))).toEqual([])
      }

      writeFileSync(join(app, "package.json"), JSON.stringify({ name: "my-node", private: true, type: "module" }))
      for (const file of ["main.ts", "api.ts", "tsconfig.json"]) copyFileSync(join(consumerFiles, file), join(app, file))
      // The README's node example, as a node author copies it.
      copyFileSync(join(repoRoot, "examples/embed/node.ts"), join(app, "node.ts"))
      run("npm", [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        ...packed.map((p) => join(tarballs, p.filename)),
        `effect@${effectVersion}`,
        `@effect/platform-node@${effectVersion}`,
        `typescript@${rootPackage.devDependencies["typescript"]}`,
        `@types/node@${rootPackage.devDependencies["@types/node"]}`
      ], app, 300_000)

      // One effect: the app's own, which every vmre package uses as a peer.
      expect(copiesOf(app, "effect")).toEqual([join(app, "node_modules/effect")])

      // Each package imports as plain JavaScript (Node refuses .ts under node_modules).
      const imports = packages.map((p) => p === "proto" ? "@vmre/proto/vm/vm_pb" : `@vmre/${p}`)
      const imported = run(process.execPath, [
        "--input-type=module",
        "-e",
        `for (const m of ${JSON.stringify(imports)}) { const ns = await import(m); console.log(m, Object.keys(ns).length) }`
      ], app)
      for (const m of imports) expect(imported).toMatch(new RegExp(`^${m} [1-9]`, "m"))

      // The documented API under a strict consumer's flags, vmre's own .d.ts included.
      run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app)

      // A program of the app launches a plugin through the installed runtime and stops it.
      // Its stdout also carries the plugin's log lines, forwarded by the runtime's logger.
      const output = run(process.execPath, ["main.ts", examplePlugin], app)
      const line = output.split("\n").find((l) => l.startsWith(`{"pid":`))
      expect(line, output).toBeDefined()
      const launched = JSON.parse(line!) as { protocolVersion: number; version: string }
      expect(launched).toMatchObject({ protocolVersion: 45, version: expect.stringMatching(/^payload-chain\//) })

      // A node of the installed registry, factory and chain layers grows a chain on a plugin directory.
      const plugins = join(app, "plugins")
      mkdirSync(plugins)
      const vmId = "SeLqn3UAUoRymWmwW7axrzJK7JfNaBR2cHCryA6cFscgkny8"
      writeFileSync(join(plugins, vmId), `#!/bin/sh\nexec ${examplePlugin}\n`, { mode: 0o755 })
      const grown = run(process.execPath, ["node.ts", plugins, "2"], app)
      const summary = grown.split("\n").find((l) => l.startsWith(`{"registered":`))
      expect(JSON.parse(summary!), grown).toMatchObject({ registered: [vmId], vmID: vmId, height: 2 })

      // The installed bin, run by this Node as a user's `npx vmre` would.
      const report = JSON.parse(
        run(process.execPath, [join(app, "node_modules/.bin/vmre"), "check", "--json", "--handshake-timeout", "30s", examplePlugin], app)
      ) as { ok: boolean; protocolVersion: number }
      expect(report).toMatchObject({ ok: true, protocolVersion: 45 })

      // A VM author's project: the example VM's sources on the installed packages, packed by
      // the installed bin into one plugin file (a start-up snapshot of what it bundled from
      // this project's node_modules), which the installed bin then checks.
      const vm = join(app, "vm")
      mkdirSync(vm)
      for (const file of ["main.ts", "PayloadChain.ts", "Codec.ts", "Config.ts", "Api.ts"]) {
        copyFileSync(join(repoRoot, "examples/payload-chain/src", file), join(vm, file))
      }
      const packedVm = join(app, "packed", vmId)
      const packing = run(process.execPath, [join(app, "node_modules/.bin/vmre"), "pack", "--out", packedVm, "vm/main.ts"], app, 180_000)
      expect(packing).toContain("single executable (Node SEA, start-up snapshot)")
      const packedReport = JSON.parse(
        run(process.execPath, [join(app, "node_modules/.bin/vmre"), "check", "--json", "--handshake-timeout", "30s", packedVm], app)
      ) as { ok: boolean; version: string }
      expect(packedReport).toMatchObject({ ok: true, version: expect.stringMatching(/^payload-chain\//) })
    }), 420_000)
})
