/**
 * `vmre pack` turns the example VM into one plugin file, which runs the way a Go VM does:
 * from a plugin directory, named by its VM ID, started by absolute path with cwd `/` and an
 * environment holding only the engine address — by vmre and by a grpc-go node.
 */
import { describe, expect, it } from "@effect/vitest"
import { Ids } from "@vmre/wire"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { runGoHost, skipGo } from "../../../test-support/goInterop.ts"
import { vmre } from "./support.ts"

const entry = fileURLToPath(new URL("../../../examples/payload-chain/src/main.ts", import.meta.url))
const readsHttp2AtLoad = fileURLToPath(new URL("fixtures/reads-http2-at-load.ts", import.meta.url))
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
  it.live("a single executable: one file in the plugin directory, run by vmre and by a Go node", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const out = join(dir, vmId)
      const packed = yield* vmre(["pack", "--out", out, entry], { timeoutMillis: 180_000 })
      expect(packed.code, packed.stderr).toBe(0)
      // The VM's code evaluated at pack time; the handshake below shows that the environment,
      // the signals and the sockets are the started process's own.
      expect(packed.stdout).toContain("single executable (Node SEA, start-up snapshot)")
      // An ELF executable of its own (the Node binary with the VM inside), nothing beside it.
      expect(readFileSync(out).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))
      expect(statSync(out).mode & 0o111).not.toBe(0)
      expect(readdirSync(dir)).toEqual([vmId])
      yield* checks(out)
    }).pipe(Effect.scoped), 240_000)

  it.live("--code-cache: no snapshot, the bundle compiled at start from V8's code cache", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const out = join(dir, vmId)
      const packed = yield* vmre(["pack", "--code-cache", "--out", out, entry], { timeoutMillis: 180_000 })
      expect(packed.code, packed.stderr).toBe(0)
      expect(packed.stdout).toContain("single executable (Node SEA, code cache)")
      expect(packed.stdout).not.toContain("no start-up snapshot")
      yield* checks(out)
    }).pipe(Effect.scoped), 240_000)

  it.live("a VM that reads node:http2 at load time: packed with the code cache instead, and why", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const out = join(dir, vmId)
      const packed = yield* vmre(["pack", "--out", out, readsHttp2AtLoad], { timeoutMillis: 180_000 })
      expect(packed.code, packed.stderr).toBe(0)
      expect(packed.stdout).toContain("single executable (Node SEA, code cache)")
      expect(packed.stdout).toContain("no start-up snapshot: node --build-sea failed: the bundle's top level holds native state a snapshot cannot")
      yield* checks(out)
    }).pipe(Effect.scoped), 240_000)

  it.live("--launcher: a shell launcher (no PATH or HOME needed) and its bundle in .vmre/", () =>
    Effect.gen(function*() {
      const dir = yield* pluginDir
      const out = join(dir, vmId)
      const packed = yield* vmre(["pack", "--launcher", "--out", out, entry], { timeoutMillis: 120_000 })
      expect(packed.code, packed.stderr).toBe(0)
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
