/**
 * `vmre pack` turns the example VM into one plugin file, which runs the way a Go VM does:
 * from a plugin directory, named by its VM ID, started by absolute path with cwd `/` and an
 * environment holding only the engine address — by vmre and by a grpc-go node.
 */
import { describe, expect, it } from "@effect/vitest"
import { Ids } from "@vmre/wire"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { runGoHost, skipGo } from "../../../test-support/goInterop.ts"
import * as Pack from "../src/Pack.ts"
import { vmre } from "./support.ts"

const entry = fileURLToPath(new URL("../../../examples/payload-chain/src/main.ts", import.meta.url))
const readsHttp2AtLoad = fileURLToPath(new URL("fixtures/reads-http2-at-load.ts", import.meta.url))
const printsExecArgv = fileURLToPath(new URL("fixtures/prints-exec-argv.ts", import.meta.url))
/** The VM ID a node would know payload-chain by: its name, zero-padded to 32 bytes, in CB58. */
const vmId = Ids.toString(Uint8Array.from({ length: 32 }, (_, i) => "payloadchain".charCodeAt(i) || 0))

const pluginDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "vmre-plugins-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const checks = (plugin: string) =>
  Effect.gen(function*() {
    const checked = yield* vmre(["check", "--json", "--handshake-timeout", "30s", plugin])
    expect(checked.code, checked.stderr).toBe(0)
    expect(JSON.parse(checked.stdout)).toMatchObject({ ok: true, protocolVersion: 45, version: expect.stringMatching(/^payload-chain\//) })
    if (skipGo) return
    const { code, result, stderr } = yield* runGoHost([], plugin)
    expect(result, stderr).toMatchObject({ ok: true, protocolVersion: 45, version: expect.stringMatching(/^payload-chain\//) })
    expect(code).toBe(0)
  })

describe("vmre pack", () => {
  /** `vmre pack FLAGS --out <dir>/<VMID> ENTRY` into a fresh plugin directory; exit 0 expected. */
  const packInto = (flags: ReadonlyArray<string>, vm: string = entry, before?: (out: string) => void) =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const out = join(dir, vmId)
      before?.(out)
      const packed = yield* vmre(["pack", ...flags, "--out", out, vm], { timeoutMillis: 180_000 })
      expect(packed.code, packed.stderr).toBe(0)
      return { dir, out, stdout: packed.stdout }
    })

  it.live("a single executable: one file in the plugin directory, run by vmre and by a Go node", () =>
    Effect.gen(function*() {
      const { dir, out, stdout } = yield* packInto([])
      // The VM's code evaluated at pack time; the handshake below shows that the environment,
      // the signals and the sockets are the started process's own.
      expect(stdout).toContain("single executable (Node SEA, start-up snapshot)")
      // An ELF executable of its own (the Node binary with the VM inside), nothing beside it.
      expect(readFileSync(out).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))
      expect(statSync(out).mode & 0o111).not.toBe(0)
      expect(readdirSync(dir)).toEqual([vmId])
      yield* checks(out)
    }).pipe(Effect.scoped), 240_000)

  it.live("an executable started from a snapshot runs with Pack.snapshotStartFlags (young space from 4 MiB)", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const packed = yield* Pack.pack({ entry: printsExecArgv, out: join(dir, "argv") })
      expect(packed.startup).toBe("snapshot")
      const started = spawnSync(packed.out, [], { encoding: "utf8", timeout: 30_000, env: {} })
      expect(started.status, started.stderr).toBe(0)
      expect(JSON.parse(started.stdout)).toEqual([...Pack.snapshotStartFlags])
      expect(Pack.snapshotStartFlags).toEqual(["--min-semi-space-size=4"])
    }).pipe(Effect.scoped), 240_000)

  it.live("--code-cache: no snapshot, the bundle compiled at start from V8's code cache", () =>
    Effect.gen(function*() {
      const { out, stdout } = yield* packInto(["--code-cache"])
      expect(stdout).toContain("single executable (Node SEA, code cache)")
      expect(stdout).not.toContain("no start-up snapshot")
      yield* checks(out)
    }).pipe(Effect.scoped), 240_000)

  it.live("a VM that reads node:http2 at load time: packed with the code cache instead, and why; an older plugin file replaced", () =>
    Effect.gen(function*() {
      const { dir, out, stdout } = yield* packInto([], readsHttp2AtLoad, (out) => writeFileSync(out, "#!/bin/sh\nexit 3\n", { mode: 0o755 }))
      expect(stdout).toContain("single executable (Node SEA, code cache)")
      expect(stdout).toContain("no start-up snapshot: node --build-sea failed: the bundle's top level holds native state a snapshot cannot")
      expect(readdirSync(dir)).toEqual([vmId])
      yield* checks(out)
    }).pipe(Effect.scoped), 240_000)

  it.live("--launcher: a shell launcher (no PATH or HOME needed) and its bundle in .vmre/", () =>
    Effect.gen(function*() {
      const { dir, out } = yield* packInto(["--launcher"])
      expect(readFileSync(out, "utf8")).toMatch(/^#!\/bin\/sh\n/)
      expect(statSync(join(dir, ".vmre", `${vmId}.cjs`)).size).toBeGreaterThan(100_000)
      expect(readdirSync(dir).sort()).toEqual([".vmre", vmId])
      yield* checks(out)
    }).pipe(Effect.scoped), 120_000)

  it.live("an entry that does not exist: exit 1 and why", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const result = yield* vmre(["pack", "--out", join(dir, vmId), join(dir, "nope.ts")])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`cannot pack ${join(dir, "nope.ts")}: no such file`)
      expect(existsSync(join(dir, vmId))).toBe(false)
    }).pipe(Effect.scoped))
})

describe("Pack.snapshotBlob", () => {
  it.live("a snapshot file for node --snapshot-blob, or PackFailed with V8's verdict and nothing written", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const made = yield* Pack.snapshotBlob({ entry, out: join(dir, "vm.blob"), conditions: ["@vmre/source"] })
      expect(made.bytes).toBeGreaterThan(1_000_000)
      expect(readdirSync(dir)).toEqual(["vm.blob"])
      // Node refuses a blob that is not one of its snapshots; this one it starts from (the VM
      // fails its handshake without an engine address, after it ran: exit 1 and its message).
      const started = spawnSync(process.execPath, ["--snapshot-blob", made.out], { encoding: "utf8", timeout: 30_000, env: {} })
      expect(started.stderr).toContain("VM_RUNTIME_ENGINE_ADDR")

      const failed = yield* Effect.flip(Pack.snapshotBlob({ entry: readsHttp2AtLoad, out: join(dir, "other.blob"), conditions: ["@vmre/source"] }))
      expect(failed.reason).toContain("the bundle's top level holds native state a snapshot cannot")
      expect(readdirSync(dir)).toEqual(["vm.blob"])
    }).pipe(Effect.scoped), 120_000)
})

describe("why a snapshot could not be made", () => {
  it("a JavaScript error at the bundle's top level: its line, and how the build ended", () => {
    const output = "/tmp/vmre-pack-x/main.cjs:12\nthrow new Error(\"no genesis\")\n^\n\nError: no genesis\n    at Object.<anonymous> (/tmp/vmre-pack-x/main.cjs:12:7)\n"
    expect(Pack.buildFailureReason(output, 1, null)).toBe("Error: no genesis (exit 1)")
  })

  it("V8's verdict on native state: what it usually means", () => {
    const output = "\n\n#\n# Fatal error in , line 0\n# CheckGlobalAndEternalHandles failed\n#\n 1: 0xaa1c41  [node]\n"
    expect(Pack.buildFailureReason(output, null, "SIGTRAP")).toMatch(
      /^the bundle's top level holds native state a snapshot cannot .*CheckGlobalAndEternalHandles failed \(killed by SIGTRAP\)$/
    )
  })
})
