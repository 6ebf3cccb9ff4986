/** `vmre registry` and `vmre chain` as an operator runs them, on real plugins. */
import { describe, expect, it } from "@effect/vitest"
import { Ids } from "@vmre/wire"
import { Effect } from "effect"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { createServer } from "node:net"
import { join } from "node:path"
import { parsePrometheus, sampleOf } from "../../../test-support/prometheus.ts"
import { examplePlugin, fixture, goPlugin, isAlive, skipGo, start, vmre } from "./support.ts"

const vmIdOf = (byte: number) => Ids.toString(new Uint8Array(32).fill(byte))

const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** An executable script (absolute paths only: plugins start with an empty environment). */
const script = (file: string, body: string, mode = 0o755) => {
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, mode)
}

const lastLine = (text: string) => text.trimEnd().split("\n").at(-1) ?? ""

describe.skipIf(skipGo)("vmre registry", () => {
  it.live("prints the registered VMs, the nodes' line for each failure, the skipped files; exit 1", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-registry-")
      script(join(dir, vmIdOf(1)), `exec ${examplePlugin}`)
      // A Go plugin (grpc-go) built for protocol 44.
      script(join(dir, vmIdOf(2)), `GO_PLUGIN_PROTOCOL=44 exec ${goPlugin}`)
      script(join(dir, vmIdOf(3)), `FIXTURE_MODE=never-handshake exec ${process.execPath} ${fixture}`)
      script(join(dir, vmIdOf(4)), `exec ${examplePlugin}`, 0o644)
      script(join(dir, "README"), "")
      writeFileSync(join(dir, "..", `${vmIdOf(1)}-aliases.json`), JSON.stringify({ [vmIdOf(1)]: ["payload"] }))
      const aliases = ["--aliases", join(dir, "..", `${vmIdOf(1)}-aliases.json`)]

      const text = yield* vmre(["registry", dir, ...aliases, "--handshake-timeout", "2s"], { timeoutMillis: 30_000 })
      expect(text.code, text.stderr).toBe(1)
      expect(text.stdout).toContain(`${dir}: 1 registered, 2 failed, 2 skipped\n`)
      expect(text.stdout).toContain(`\n${vmIdOf(1)}\n  aliases:   payload\n  path:      ${join(dir, vmIdOf(1))}\n`)
      expect(text.stdout).toContain("  protocol:  45 (avalanchego v1.14.2)\n  version:   payload-chain/")
      expect(text.stdout).toContain(
        `failed to register VM {"vmID": "${vmIdOf(2)}", "error": "handshake failed: protocol version mismatch node: 45 vm: 44"}\n`
      )
      expect(text.stdout).toContain(`failed to register VM {"vmID": "${vmIdOf(3)}", "error": "handshake failed: timeout"}\n`)
      expect(text.stdout).toContain(`skipped ${join(dir, vmIdOf(4))}: not executable (chmod +x it)\n`)

      // --protocol 44,45 registers the older plugin too; --json is one object.
      const json = yield* vmre(["registry", dir, ...aliases, "--json", "--protocol", "44,45", "--handshake-timeout", "2s"], {
        timeoutMillis: 30_000
      })
      expect(json.code).toBe(1)
      const report = JSON.parse(json.stdout)
      expect(Object.keys(report)).toEqual(["registered", "failed", "skipped"])
      expect(report.registered).toEqual([
        { vmID: vmIdOf(1), aliases: ["payload"], path: join(dir, vmIdOf(1)), protocolVersion: 45, version: expect.stringMatching(/^payload-chain\//) },
        { vmID: vmIdOf(2), aliases: [], path: join(dir, vmIdOf(2)), protocolVersion: 44, version: expect.any(String) }
      ].sort((a, b) => a.vmID.localeCompare(b.vmID)))
      expect(report.failed).toEqual([
        { vmID: vmIdOf(3), path: join(dir, vmIdOf(3)), error: "handshake failed: timeout", detail: expect.stringContaining("within 2000 ms") }
      ])
      expect(report.skipped.map((s: { path: string }) => s.path).sort()).toEqual([join(dir, "README"), join(dir, vmIdOf(4))].sort())
    }).pipe(Effect.scoped), 90_000)

  it.live("a missing directory is bad usage (exit 2)", () =>
    Effect.gen(function*() {
      const result = yield* vmre(["registry", "/nonexistent/plugins"])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(`plugin dir "/nonexistent/plugins" not found`)
    }))
})

describe("vmre chain", () => {
  it.live("grows the example VM's chain, keeps it with --db and resumes it in a second run", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-chain-")
      const first = yield* vmre(["chain", examplePlugin, "--db", dir, "--until-height", "2", "--json"], { timeoutMillis: 30_000 })
      expect(first.code, first.stderr).toBe(0)
      const one = JSON.parse(first.stdout)
      expect(one).toEqual({ height: 2, lastAccepted: expect.any(String), blocksAccepted: 2, restarts: 0 })
      expect(first.stderr).toContain("starting at height 0 (a new chain)")
      expect(first.stderr).toMatch(/height +1 +\w+ +\d+(\.\d)? ms/)

      const second = yield* vmre(["chain", examplePlugin, "--db", dir, "--until-height", "4", "--json"], { timeoutMillis: 30_000 })
      expect(second.code, second.stderr).toBe(0)
      expect(JSON.parse(lastLine(second.stdout))).toMatchObject({ height: 4, blocksAccepted: 2 })
      expect(second.stderr).toContain("starting at height 2\n")
    }).pipe(Effect.scoped), 90_000)

  it.live("survives kill -9 of its VM, and Ctrl-C stops it with a summary (exit 0)", () =>
    Effect.gen(function*() {
      const running = yield* start(["chain", examplePlugin, "--json", "--verbose"])
      yield* running.waitForStderr((text) => /height +2 /.test(text), 20_000)
      const vmPid = Number(/handshake with dev done[^\n]*pid: (\d+)/.exec(running.stderr())?.[1] ?? NaN)
      const pid = Number.isNaN(vmPid) ? Number(/\[dev (\d+) /.exec(running.stderr())?.[1]) : vmPid
      expect(isAlive(pid)).toBe(true)
      process.kill(pid, "SIGKILL")
      yield* running.waitForStderr((text) => text.includes("vmre: the chain resumed at height"), 20_000)
      const resumedAt = Number(/resumed at height (\d+)/.exec(running.stderr())?.[1])
      yield* running.waitForStderr((text) => new RegExp(`height +${resumedAt + 1} `).test(text), 20_000)
      running.child.kill("SIGINT")
      const finished = yield* running.finished(20_000)
      expect(finished.code, finished.stderr).toBe(0)
      const summary = JSON.parse(lastLine(finished.stdout))
      expect(summary.restarts).toBe(1)
      expect(summary.height).toBeGreaterThan(resumedAt)
      // Every height once, in order, across the crash.
      const heights = [...finished.stderr.matchAll(/^height +(\d+) /gm)].map((m) => Number(m[1]))
      expect(heights).toEqual(Array.from({ length: heights.length }, (_, i) => i + 1))
      expect(isAlive(pid)).toBe(false)
    }).pipe(Effect.scoped), 90_000)
})

describe("vmre chain --http and --metrics", () => {
  it.live("serves the example VM's API: its URLs printed, status JSON, a payload submitted by JSON-RPC lands in a block", () =>
    Effect.gen(function*() {
      const running = yield* start(["chain", "--http", "127.0.0.1:0", "--json", examplePlugin])
      const text = yield* running.waitForStderr((t) => /api +http:\/\/\S+\/status/.test(t) && /starting at height/.test(t), 20_000)
      const status = /api +(http:\/\/\S+\/status)/.exec(text)![1]!
      const rpc = status.replace(/status$/, "rpc")
      expect(text).toContain(`${status.replace(/\/ext\/bc\/\w+\/status$/, "")}/ext/bc/dev/rpc`)
      const first = yield* Effect.promise(() => fetch(status).then((r) => r.json() as Promise<{ lastAcceptedHeight: string }>))
      expect(first.lastAcceptedHeight).toMatch(/^\d+$/)
      const submitted = yield* Effect.promise(() =>
        fetch(rpc, {
          method: "POST",
          body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "payload.submit", params: { payload: "sent over http" } })
        }).then((r) => r.json() as Promise<{ id: number; result: { payloadId: string } }>)
      )
      expect(submitted).toMatchObject({ id: 7, result: { payloadId: expect.stringMatching(/^\w{40,}$/) } })
      // The same payload again is refused once it is accepted (the chain holds it).
      const refusal = yield* Effect.gen(function*() {
        for (let i = 0; i < 100; i++) {
          const again = yield* Effect.promise(() =>
            fetch(rpc, {
              method: "POST",
              body: JSON.stringify({ jsonrpc: "2.0", id: 8, method: "payload.submit", params: { payload: "sent over http" } })
            }).then((r) => r.json() as Promise<{ error?: { code: number; message: string } }>)
          )
          if (again.error !== undefined) return again.error
          yield* Effect.sleep("100 millis")
        }
        return undefined
      })
      expect(refusal).toEqual({ code: -32000, message: "payload refused: already accepted" })
      const unknown = yield* Effect.promise(() =>
        fetch(rpc, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "nope" }) }).then((r) => r.json())
      )
      expect(unknown).toMatchObject({ id: 9, error: { code: -32601 } })
      running.child.kill("SIGINT")
      const finished = yield* running.finished(20_000)
      expect(finished.code, finished.stderr).toBe(0)
      // The server is gone with the node.
      const after = yield* Effect.promise(() => fetch(status).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    }).pipe(Effect.scoped), 60_000)

  it.live("--metrics serves the host's, the VM process's and the VM's own metrics, labelled by chain, to a Prometheus scrape", () =>
    Effect.gen(function*() {
      const running = yield* start(["chain", "--metrics", "127.0.0.1:0", "--json", examplePlugin])
      const text = yield* running.waitForStderr((t) => /metrics +http:\/\/\S+\/metrics/.test(t) && /height +2 /.test(t), 30_000)
      const url = /metrics +(http:\/\/\S+\/metrics)/.exec(text)![1]!
      const families = parsePrometheus(yield* Effect.promise(() => fetch(url).then((r) => r.text())))
      expect(sampleOf(families, "vmre_chain_height", { chain: "dev" })).toBeGreaterThanOrEqual(2)
      expect(sampleOf(families, "vmre_vm_up", { chain: "dev" })).toBe(1)
      expect(sampleOf(families, "vmre_vm_resident_memory_bytes", { chain: "dev" })).toBeGreaterThan(10 * 1024 * 1024)
      expect(sampleOf(families, "vm_blocks_accepted_total", { chain: "dev" })).toBeGreaterThanOrEqual(2)
      expect(sampleOf(families, "payload_chain_payloads_accepted_total", { chain: "dev" })).toBeGreaterThanOrEqual(2)
      running.child.kill("SIGINT")
      expect((yield* running.finished(20_000)).code).toBe(0)
    }).pipe(Effect.scoped), 60_000)

  it.live("an --http address that is taken is bad usage (exit 2) and says so", () =>
    Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<import("node:net").Server>((resolve) => {
          const server = createServer()
          server.listen(0, "127.0.0.1", () => resolve(server))
        })),
        (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const port = (taken.address() as { port: number }).port
      const result = yield* vmre(["chain", "--http", `127.0.0.1:${port}`, "--until-height", "1", examplePlugin], { timeoutMillis: 30_000 })
      expect(result.code, result.stderr).toBe(2)
      expect(result.stderr).toContain(`cannot serve HTTP on 127.0.0.1:${port}`)
    }).pipe(Effect.scoped), 60_000)
})

describe.skipIf(skipGo)("vmre check --initialize", () => {
  it.live("initializes the Go plugin with a node's services answering its callbacks, then reports its health", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-check-init-")
      const callbacks = join(dir, "callbacks.json")
      const result = yield* vmre(["check", "--initialize", "--json", "--env", `GO_PLUGIN_CALLBACKS=${callbacks}`, goPlugin])
      expect(result.code, result.stderr).toBe(0)
      const report = JSON.parse(result.stdout)
      expect(report).toMatchObject({ ok: true, initialize: { height: 0, lastAccepted: expect.any(String) }, health: { initialized: true } })
      const answered = JSON.parse(readFileSync(callbacks, "utf8"))
      expect(answered).toMatchObject({ validatorKeyIsOurs: true, warpSets: 1, health: "SERVING", appGossipSent: true })
      expect(answered.signature).toMatch(/^[0-9a-f]{192}$/)
      // Without --initialize, the same plugin's health says it is not initialized.
      const plain = yield* vmre(["check", "--json", goPlugin])
      expect(JSON.parse(plain.stdout).health).toMatchObject({ initialized: false })
    }).pipe(Effect.scoped), 60_000)

  it.live("gives the example VM its genesis and reports the block it starts from", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-check-init-")
      writeFileSync(join(dir, "genesis.json"), JSON.stringify({ message: "checked", timestamp: "2025-01-01T00:00:00.000Z" }))
      const result = yield* vmre(["check", "--initialize", "--genesis", join(dir, "genesis.json"), examplePlugin], { timeoutMillis: 30_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/initialize: \{"height":0,"lastAccepted":"\w+"\}/)
      expect(result.stdout).toMatch(/health: +\{"database":null,"health":\{"lastAccepted":/)
    }).pipe(Effect.scoped), 60_000)
})
