/** The README's embedding example runs as documented. */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Ids } from "@vmre/wire"
import { CLIENT, collector, type OtlpSpan, SERVER } from "../../../test-support/otlp.ts"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const main = fileURLToPath(new URL("../main.ts", import.meta.url))
const nodeMain = fileURLToPath(new URL("../node.ts", import.meta.url))
const examplePlugin = fileURLToPath(new URL("../../payload-chain/bin/payload-chain", import.meta.url))

describe("examples/embed", () => {
  it.live("launches the example VM, reads its version, and stops it cleanly", () =>
    Effect.callback<{ code: number | null; stdout: string }>((resume) => {
      const child = execFile(process.execPath, [main], { timeout: 60_000 }, (error, stdout) =>
        resume(Effect.succeed({ code: error === null ? 0 : (error.code as number | null) ?? 1, stdout })))
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(
      Effect.map(({ code, stdout }) => {
        expect(code).toBe(0)
        expect(stdout).toMatch(/payload-chain: pid \d+, vm\.VM at 127\.0\.0\.1:\d+, protocol 45, handshake in [\d.]+ ms/)
        expect(stdout).toContain("version: payload-chain/0.1.0")
        const events = [...stdout.matchAll(/lifecycle: (\w+)/g)].map((m) => m[1])
        expect(events).toEqual(["Spawned", "Ready", "Exited"])
      })
    ), 90_000)

  it.live("node.ts composes registry, factory and chain layers and grows a chain on a plugin directory", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "vmre-embed-node-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const vmId = Ids.toString(new Uint8Array(32).fill(1))
      writeFileSync(join(dir, vmId), `#!/bin/sh\nexec ${examplePlugin}\n`, { mode: 0o755 })
      writeFileSync(join(dir, "notes.txt"), "not a plugin")
      const { code, stdout } = yield* Effect.callback<{ code: number | null; stdout: string }>((resume) => {
        const child = execFile(process.execPath, [nodeMain, dir, "2"], { timeout: 60_000 }, (error, out) =>
          resume(Effect.succeed({ code: error === null ? 0 : (error.code as number | null) ?? 1, stdout: out })))
        return Effect.sync(() => child.kill("SIGKILL"))
      })
      expect(code).toBe(0)
      const line = stdout.split("\n").find((l) => l.startsWith("{\"registered\""))
      expect(JSON.parse(line!)).toEqual({ registered: [vmId], failed: [], vmID: vmId, height: 2, lastAccepted: expect.any(String) })
    }).pipe(Effect.scoped), 90_000)

  it.live("node.ts with an OTLP endpoint: one trace from the node's BuildBlock/Verify/Accept into the VM and its database writes", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "vmre-embed-traced-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const otlp = yield* collector
      const vmId = Ids.toString(new Uint8Array(32).fill(1))
      writeFileSync(join(dir, vmId), `#!/bin/sh\nexec ${examplePlugin}\n`, { mode: 0o755 })
      const { code } = yield* Effect.callback<{ code: number | null }>((resume) => {
        const child = execFile(process.execPath, [nodeMain, dir, "2"], {
          timeout: 60_000,
          env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url }
        }, (error) => resume(Effect.succeed({ code: error === null ? 0 : (error.code as number | null) ?? 1 })))
        return Effect.sync(() => child.kill("SIGKILL"))
      })
      expect(code).toBe(0)
      const node = otlp.spans.filter((s) => s.service === "vmre-node")
      const vm = otlp.spans.filter((s) => s.service !== "vmre-node")
      const child = (parent: OtlpSpan, among: ReadonlyArray<OtlpSpan>, name: string, kind: number) =>
        among.find((s) => s.parentSpanId === parent.spanId && s.name === name && s.kind === kind)
      for (const step of ["BuildBlock", "BlockVerify", "BlockAccept"]) {
        const calls = node.filter((s) => s.name === `vm.VM/${step}` && s.kind === CLIENT)
        expect(calls.length, step).toBeGreaterThanOrEqual(2)
        expect(calls.every((c) => child(c, vm, `vm.VM/${step}`, SERVER) !== undefined), step).toBe(true)
      }
      // The VM's database writes nest inside its BlockAccept, and the node's rpcdb server inside them.
      const accept = child(node.find((s) => s.name === "vm.VM/BlockAccept" && s.kind === CLIENT)!, vm, "vm.VM/BlockAccept", SERVER)!
      const write = vm.find((s) => s.traceId === accept.traceId && s.name === "rpcdb.Database/WriteBatch" && s.kind === CLIENT)
      expect(write).toBeDefined()
      expect(child(write!, node, "rpcdb.Database/WriteBatch", SERVER)).toBeDefined()
    }).pipe(Effect.scoped), 90_000)
})
