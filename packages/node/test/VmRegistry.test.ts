/**
 * The registry over a real plugin directory: the TypeScript example VM, the Go interop plugin,
 * a plugin of another protocol version, one that never handshakes, a non-executable file,
 * a file whose name is not a VM ID, a directory.
 */
import { describe, expect, it } from "@effect/vitest"
import { VmRuntime } from "@vmre/runtime"
import { Effect, Fiber, Layer, Stream } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { captureLogs } from "../../../test-support/logs.ts"
import { isAlive } from "../../../test-support/processes.ts"
import * as PluginDirectory from "../src/PluginDirectory.ts"
import { VmRegistry } from "../src/VmRegistry.ts"
import { fixtureScript, payloadChainScript, tempDir, vmIdOf, writeScript } from "./support.ts"

const payloadVm = vmIdOf(1)
const goVm = vmIdOf(2)
const oldProtocolVm = vmIdOf(3)
const silentVm = vmIdOf(4)
const laterVm = vmIdOf(5)

const pluginDir = (dir: string) => {
  writeScript(dir, payloadVm, payloadChainScript())
  writeScript(dir, `${goVm}.exe`, `exec ${goPluginPath}`)
  writeScript(dir, oldProtocolVm, fixtureScript("normal", { FIXTURE_PROTOCOL: "44" }))
  writeScript(dir, silentVm, fixtureScript("never-handshake"))
  writeScript(dir, vmIdOf(6), payloadChainScript(), 0o644)
  writeScript(dir, "my-vm", payloadChainScript())
  writeFileSync(path.join(dir, ".gitkeep"), "")
  mkdirSync(path.join(dir, "subdir"))
}

describe("PluginDirectory", () => {
  it.effect("reports every file that is not a plugin, with why", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-plugins-")
      pluginDir(dir)
      const scan = yield* PluginDirectory.scan(dir)
      expect(scan.plugins.map((p) => p.vmId).sort()).toEqual([payloadVm, goVm, oldProtocolVm, silentVm].sort())
      const reasons = Object.fromEntries(scan.skipped.map((s) => [path.basename(s.path), s.reason]))
      expect(reasons).toEqual({
        ".gitkeep": "a hidden file (its name without the extension is empty)",
        "my-vm": `its name "my-vm" is neither a CB58 VM ID nor an alias from the aliases file`,
        subdir: "a directory",
        [vmIdOf(6)]: "not executable (chmod +x it)"
      })
      // With an aliases file, a plugin may be named by its alias.
      writeFileSync(path.join(dir, "aliases.json"), JSON.stringify({ [vmIdOf(9)]: ["my-vm"] }))
      const aliases = yield* PluginDirectory.readAliases(path.join(dir, "aliases.json"))
      const aliased = yield* PluginDirectory.scan(dir, aliases)
      expect(aliased.plugins.find((p) => path.basename(p.path) === "my-vm")?.vmId).toBe(vmIdOf(9))
    }).pipe(Effect.scoped))

  it.effect("refuses a missing directory and a bad aliases file with typed errors", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-plugins-")
      const missing = yield* Effect.flip(PluginDirectory.scan(path.join(dir, "nope")))
      expect(missing.message).toMatch(/^plugin dir ".*nope" not found/)
      writeFileSync(path.join(dir, "a.json"), "{not json")
      expect((yield* Effect.flip(PluginDirectory.readAliases(path.join(dir, "a.json")))).message).toContain("unmarshalling failed")
      writeFileSync(path.join(dir, "b.json"), JSON.stringify({ [vmIdOf(1)]: ["x"], [vmIdOf(2)]: ["x"] }))
      expect((yield* Effect.flip(PluginDirectory.readAliases(path.join(dir, "b.json")))).message).toContain(
        "alias already mapped to an ID: x"
      )
      writeFileSync(path.join(dir, "c.json"), JSON.stringify({ "not-an-id": ["y"] }))
      expect((yield* Effect.flip(PluginDirectory.readAliases(path.join(dir, "c.json")))).message).toContain(
        `"not-an-id" is not a CB58 VM ID`
      )
    }).pipe(Effect.scoped))
})

describe.skipIf(skipGo)("VmRegistry", () => {
  it.live("registers the good plugins, logs the seed's line for the bad ones, and reloads", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-plugins-")
      pluginDir(dir)
      writeFileSync(path.join(dir, "..", `${path.basename(dir)}.aliases.json`), JSON.stringify({ [payloadVm]: ["payload"] }))
      const logs = captureLogs()
      const registryLayer = VmRegistry.layer({
        pluginDir: dir,
        aliasesFile: path.join(dir, "..", `${path.basename(dir)}.aliases.json`),
        launch: { handshakeTimeout: "2 seconds" }
      }).pipe(Layer.provide(VmRuntime.layer))

      yield* Effect.gen(function*() {
        const registry = yield* VmRegistry
        const report = yield* registry.report
        expect(report.registered.map((vm) => vm.vmId).sort()).toEqual([payloadVm, goVm].sort())
        const payload = yield* registry.lookup("payload")
        expect(payload).toMatchObject({ vmId: payloadVm, aliases: ["payload"], protocolVersion: 45 })
        expect(payload.version).toMatch(/^payload-chain\//)
        expect((yield* registry.lookup(goVm)).path).toBe(path.join(dir, `${goVm}.exe`))

        const failed = Object.fromEntries(report.failed.map((f) => [f.vmId, f.error]))
        expect(failed[oldProtocolVm]).toBe("handshake failed: protocol version mismatch node: 45 vm: 44")
        expect(failed[silentVm]).toBe("handshake failed: timeout")
        const detail = report.failed.find((f) => f.vmId === oldProtocolVm)?.detail
        expect(detail).toMatch(/^handshake failed: protocol version mismatch node: 45 vm: 44\. .* Use a plugin built for protocol 45/)
        expect(report.skipped.length).toBe(4)
        // The Go nodes' line: `failed to register VM` with the fields vmID and error.
        const seedLines = logs.lines.filter((line) => line.message === "failed to register VM")
        expect(seedLines.map((line) => line.level)).toEqual(["Error", "Error"])
        expect(seedLines.map((line) => line.annotations).sort((a, b) => String(a.vmID).localeCompare(String(b.vmID))))
          .toEqual(
            [
              { vmID: oldProtocolVm, error: failed[oldProtocolVm] },
              { vmID: silentVm, error: failed[silentVm] }
            ].sort((a, b) => a.vmID.localeCompare(b.vmID))
          )
        const notThere = yield* Effect.flip(registry.lookup(oldProtocolVm))
        expect(notThere.message).toContain(`no VM is registered as "${oldProtocolVm}"`)

        // A plugin added later registers at the next reload; the registered ones are not probed again.
        const changes = yield* registry.changes.pipe(Stream.filter((c) => c._tag === "Registered"), Stream.take(1), Stream.runCollect, Effect.forkScoped)
        yield* Effect.sleep("20 millis")
        writeScript(dir, laterVm, payloadChainScript())
        const reloaded = yield* registry.reload
        expect(reloaded.registered.map((vm) => vm.vmId)).toEqual([laterVm])
        expect(reloaded.failed.map((f) => f.vmId).sort()).toEqual([oldProtocolVm, silentVm].sort())
        expect((yield* registry.list).length).toBe(3)
        const [change] = yield* Fiber.join(changes)
        expect(change).toMatchObject({ _tag: "Registered", vm: { vmId: laterVm } })
      }).pipe(Effect.provide(registryLayer), Effect.provide(logs.layer))

      // Every probe was stopped.
      const pids = logs.lines.flatMap((line) => typeof line.annotations.pid === "number" ? [line.annotations.pid] : [])
      expect(pids.length).toBeGreaterThan(0)
      for (const pid of new Set(pids)) expect(isAlive(pid), `pid ${pid}`).toBe(false)
    }).pipe(Effect.scoped), 60_000)
})
