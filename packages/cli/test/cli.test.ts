import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ccorePluginPath, skipCCore } from "../../../test-support/ccoreInterop.ts"
import { bin, examplePlugin, fixtureArgs, goPlugin, isAlive, repoRoot, skipGo, start, vmre } from "./support.ts"

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

/** The only thing on stdout: one line holding one JSON object. */
const json = (stdout: string): Record<string, any> => {
  expect(lines(stdout)).toHaveLength(1)
  return JSON.parse(stdout)
}

const pidOf = (text: string): number => Number(/pid:\s+(\d+)/.exec(text)?.[1])

describe("vmre check", () => {
  it.live("handshakes with a plugin, reports it and stops it", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "normal"))
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^ok: node handshook and stopped\n/)
      expect(result.stdout).toContain(`plugin:     ${process.execPath}\n`)
      expect(result.stdout).toMatch(/vm address: 127\.0\.0\.1:\d+\n/)
      expect(result.stdout).toContain("protocol:   45 (avalanchego v1.14.2)\n")
      expect(result.stdout).toMatch(/handshake:  \d+(\.\d)? ms\n/)
      expect(result.stdout).toMatch(/stop: +\d+(\.\d)? ms, exit code 0\n/)
      const pid = pidOf(result.stdout)
      expect(isAlive(pid)).toBe(false)
      // By default only the plugin's warnings and errors, on stderr.
      expect(result.stderr).toContain(`[node ${pid} stderr] WARN WARN [11-27|04:50:00.001] a warning from the plugin`)
      expect(result.stderr).toContain(`[node ${pid} stdout] ERROR {"@level":"error","@message":"a json error line"}`)
      expect(result.stderr).not.toContain("plugin serving")
    }))

  it.live("--json prints one JSON object with the stable fields, and logs only on stderr", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "normal", "--json", "--verbose"))
      expect(result.code).toBe(0)
      const report = json(result.stdout)
      expect(Object.keys(report)).toEqual([
        "ok",
        "plugin",
        "pid",
        "vmAddr",
        "protocolVersion",
        "handshakeMs",
        "stopMs",
        "exit",
        "groupOutlivedPlugin"
      ])
      expect(report).toMatchObject({ ok: true, plugin: process.execPath, protocolVersion: 45, exit: { code: 0, signal: null } })
      expect(report.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(report.handshakeMs).toBeGreaterThan(0)
      expect(report.stopMs).toBeGreaterThanOrEqual(0)
      // --verbose: every plugin line, on stderr, with the pid of the report.
      expect(result.stderr).toMatch(
        new RegExp(`^\\[node ${report.pid} stdout\\] INFO INFO \\[11-27\\|04:50:00\\.000\\] plugin serving addr=`, "m")
      )
      expect(isAlive(report.pid)).toBe(false)
    }))

  it.live("fails with the handshake timeout message, in bounded time, and kills the plugin", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "never-handshake", "--handshake-timeout", "1s"))
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toMatch(/^handshake failed: timeout: .* within 1000 ms/m)
      expect(result.millis).toBeLessThan(10_000)
      const pid = Number(/^handshake failed: timeout: .* \(pid (\d+)\)/m.exec(result.stderr)?.[1])
      expect(pid).toBeGreaterThan(0)
      expect(isAlive(pid)).toBe(false)
    }))

  it.live("fails on a protocol version mismatch, and --protocol makes it pass", () =>
    Effect.gen(function*() {
      const mismatch = yield* vmre(fixtureArgs("check", "normal", "--env", "FIXTURE_PROTOCOL=44"))
      expect(mismatch.code).toBe(1)
      expect(mismatch.stderr).toContain("handshake failed: protocol version mismatch node: 45 vm: 44")
      expect(mismatch.stderr).toContain("(vmre --protocol 44)")

      const passed = yield* vmre(fixtureArgs("check", "normal", "--env", "FIXTURE_PROTOCOL=44", "--protocol", "44"))
      expect(passed.code).toBe(0)
      expect(passed.stdout).toContain("protocol:   44 (avalanchego v1.14.0-v1.14.1)\n")

      // A node may accept a set: a range, a list, a release name.
      const ranged = yield* vmre(fixtureArgs("check", "normal", "--env", "FIXTURE_PROTOCOL=44", "--protocol", "42-45"))
      expect(ranged.code, ranged.stderr).toBe(0)
      expect(ranged.stdout).toContain("protocol:   44 (avalanchego v1.14.0-v1.14.1)\n")
      const outside = yield* vmre(fixtureArgs("check", "normal", "--env", "FIXTURE_PROTOCOL=44", "--protocol", "v1.14.2,46"))
      expect(outside.code).toBe(1)
      expect(outside.stderr).toContain("handshake failed: protocol version mismatch node: 45,46 vm: 44")
      const bad = yield* vmre(fixtureArgs("check", "normal", "--protocol", "45-"))
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("protocol versions: N, N,M, LOW-HIGH")
    }))

  it.live("reports a plugin that crashes before the handshake with its exit code and stderr tail", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "crash", "--handshake-timeout", "60s"))
      expect(result.code).toBe(1)
      expect(result.millis).toBeLessThan(20_000)
      expect(result.stderr).toMatch(/^handshake failed: vm process exited before the handshake: .* exit code 3 after \d+ ms$/m)
      expect(result.stderr).toContain("last stderr lines:\n")
      expect(result.stderr).toContain("  panic: runtime error: invalid memory address or nil pointer dereference\n")
    }))

  it.live("reports a missing plugin with the spawn failure, its path resolved against the cwd", () =>
    Effect.gen(function*() {
      const result = yield* vmre(["check", "./no/such/plugin"])
      expect(result.code).toBe(1)
      expect(result.stderr).toBe(`cannot start vm plugin ${resolve(repoRoot, "no/such/plugin")}: no such file\n`)
      expect(result.stdout).toBe("")
    }))

  it.live("--json on failure: ok false, the error's tag, message and fields", () =>
    Effect.gen(function*() {
      const mismatch = yield* vmre(fixtureArgs("check", "normal", "--env", "FIXTURE_PROTOCOL=44", "--json"))
      expect(mismatch.code).toBe(1)
      const report = json(mismatch.stdout)
      expect(report).toEqual({
        ok: false,
        plugin: process.execPath,
        error: {
          tag: "ProtocolVersionMismatch",
          message: expect.stringMatching(/^handshake failed: protocol version mismatch node: 45 vm: 44\. /),
          path: process.execPath,
          node: 45,
          vm: 44
        }
      })

      const missing = yield* vmre(["check", "--json", "/no/such/plugin"])
      expect(missing.code).toBe(1)
      expect(json(missing.stdout)).toEqual({
        ok: false,
        plugin: "/no/such/plugin",
        error: {
          tag: "SpawnFailed",
          message: "cannot start vm plugin /no/such/plugin: no such file",
          path: "/no/such/plugin",
          reason: "NotFound",
          detail: "no such file"
        }
      })

      const timeout = yield* vmre(fixtureArgs("check", "never-handshake", "--handshake-timeout", "500ms", "--json"))
      expect(timeout.code).toBe(1)
      expect(json(timeout.stdout).error).toMatchObject({ tag: "HandshakeTimeout", timeoutMillis: 500, stderrTail: [] })
    }))

  it.live("reports a plugin that had to be killed after --stop-timeout", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "ignore-sigterm", "--stop-timeout", "500 millis", "--json"))
      expect(result.code).toBe(0)
      const report = json(result.stdout)
      expect(report.exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(report.stopMs).toBeGreaterThanOrEqual(500)
      expect(isAlive(report.pid)).toBe(false)
    }))

  it.live("--env-name chooses the engine address variables", () =>
    Effect.gen(function*() {
      const avalanche = yield* vmre(fixtureArgs("check", "normal", "--env-name", "AVALANCHE_VM_RUNTIME_ENGINE_ADDR"))
      expect(avalanche.code).toBe(0)
      const none = yield* vmre(fixtureArgs("check", "normal", "--env-name", "SOME_OTHER_NAME"))
      expect(none.code).toBe(1)
      expect(none.stderr).toContain("required env var missing")
    }))

  it.live("bad usage exits 2 with the reason on stderr and nothing on stdout", () =>
    Effect.gen(function*() {
      for (
        const [args, reason] of [
          [["check"], "Missing required argument: plugin"],
          [["check", "--handshake-timeout", "5", "x"], "a positive duration with a unit"],
          [["check", "--stop-timeout", "soon", "x"], "a positive duration with a unit"],
          [["check", "--env", "NOEQUALS", "x"], "KEY=VALUE"],
          [["check", "--protocol", "abc", "x"], "--protocol"],
          [["check", "--no-such-flag", "x"], "Unrecognized flag: --no-such-flag"],
          [["check", "--env-name", "A=B", "x"], "an environment variable name"],
          [["check", "--env-name", "", "x"], "an environment variable name"],
          [["check", "--env-name", "HAS SPACE", "x"], "an environment variable name"],
          [["frobnicate"], "Unknown subcommand \"frobnicate\""]
        ] as const
      ) {
        const result = yield* vmre(args)
        expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: "" })
        expect(result.stderr).toContain(reason)
      }
      const badEnv = yield* vmre(["check", "x"], { env: { ...process.env, VMRE_PROTOCOL_VERSION: "latest" } })
      expect(badEnv.code).toBe(2)
      expect(badEnv.stderr).toMatch(/^vmre: invalid configuration: .* at \["VMRE_PROTOCOL_VERSION"\]$/m)
    }), 60_000)

  it.live("--help and --version exit 0", () =>
    Effect.gen(function*() {
      const help = yield* vmre(["check", "--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("vmre check [flags] <plugin> [<args...>]")
      expect(help.stdout).toContain("--handshake-timeout DURATION")
      const version = yield* vmre(["--version"])
      expect(version.code).toBe(0)
      expect(version.stdout).toMatch(/^vmre v\d+\.\d+\.\d+/)
    }))
})

describe("the command line", () => {
  it.live("everything after PLUGIN is the plugin's, flags that look like vmre's included", () =>
    Effect.gen(function*() {
      // Node runs the fixture with `-h --version x` as its arguments; vmre reads none of them.
      const result = yield* vmre([...fixtureArgs("check", "normal", "--json"), "-h", "--version", "x"])
      expect(result.code, result.stderr).toBe(0)
      expect(json(result.stdout)).toMatchObject({ ok: true, protocolVersion: 45 })
      // An explicit -- stays accepted.
      const explicit = yield* vmre([...fixtureArgs("check", "normal", "--json"), "--", "-h"])
      expect(explicit.code, explicit.stderr).toBe(0)
      expect(json(explicit.stdout).ok).toBe(true)
    }))

  it.live("on a terminal a status line says what is being waited for; piped, nothing", () =>
    Effect.gen(function*() {
      // util-linux `script` gives vmre a pseudo-terminal; what it wrote comes back on stdout.
      const command = [process.execPath, bin, ...fixtureArgs("check", "normal")].map((a) => `'${a}'`).join(" ")
      const onTty = spawnSync("script", ["-qfec", command, "/dev/null"], { encoding: "utf8", timeout: 60_000 })
      expect(onTty.status, onTty.stdout).toBe(0)
      expect(onTty.stdout).toContain("\r\x1b[2Kvmre: waiting for node to call Initialize (at most 30s)…\r\x1b[2K")
      expect(onTty.stdout).toMatch(/\r\x1b\[2Kvmre: stopping node \(pid \d+\): waiting for it to exit/)

      const piped = yield* vmre(fixtureArgs("check", "normal"))
      expect(piped.code).toBe(0)
      expect(piped.stderr + piped.stdout).not.toContain("waiting for")
    }))

  it.live("a plugin's control characters cannot drive the terminal: they are shown as \\xNN", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "control-chars", "--verbose"))
      expect(result.code, result.stderr).toBe(0)
      // Nothing of the plugin's reaches the terminal raw: no ESC, BEL, CR, NUL or C1 byte.
      expect(result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
      expect(result.stderr).toContain("\\x1b]0;pwned\\x07\\x1b[2Jcleared\\x0dvmre: ok: all good\\x00")
      expect(result.stderr).toContain("\\x1b[31mred\\x1b[0m\\x9b")
    }))

  it.live("--log-format json and logfmt write one structured entry a line to stderr", () =>
    Effect.gen(function*() {
      const asJson = yield* vmre(["--log-format", "json", ...fixtureArgs("check", "normal", "--verbose")])
      expect(asJson.code, asJson.stderr).toBe(0)
      const entries = asJson.stderr.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
      expect(entries.some((e) => e.annotations?.source === "plugin" && e.annotations?.stream === "stdout")).toBe(true)
      expect(entries.every((e) => typeof e.level === "string" && "message" in e && typeof e.timestamp === "string")).toBe(true)
      // A plugin's line says which VM, process and stream it came from, and joins the launch's trace.
      const pluginLine = entries.find((e) => e.annotations?.source === "plugin")
      expect(pluginLine.annotations).toMatchObject({ vm: expect.any(String), pid: expect.any(Number), stream: expect.any(String) })
      expect(entries.some((e) => /^[0-9a-f]{32}$/.test(e.traceId ?? "") && /^[0-9a-f]{16}$/.test(e.spanId ?? ""))).toBe(true)

      const asLogfmt = yield* vmre(["--log-format", "logfmt", ...fixtureArgs("check", "normal", "--verbose")])
      expect(asLogfmt.code, asLogfmt.stderr).toBe(0)
      expect(asLogfmt.stderr).toMatch(/^timestamp=\S+ level=INFO fiber=\S+ message=.* source=plugin /m)

      const bad = yield* vmre(["--log-format", "xml", ...fixtureArgs("check", "normal")])
      expect(bad.code).toBe(2)
    }))
})

describe("vmre check of full vm.VM plugins", () => {
  it.live("the example VM: Version and Health are reported, and Shutdown lets it exit 0", () =>
    Effect.gen(function*() {
      const result = yield* vmre(["check", "--json", "--handshake-timeout", "30s", examplePlugin])
      expect(result.code).toBe(0)
      const report = json(result.stdout)
      expect(report.version).toBe("payload-chain/0.1.0")
      // The SDK answers Health only once the VM is initialized; check reports why.
      expect(report.healthError).toMatch(/Health/)
      expect(report.exit).toEqual({ code: 0, signal: null })
      expect(isAlive(report.pid)).toBe(false)
    }), 60_000)

  it.live.skipIf(skipGo)(
    "a Go plugin (grpc-go): its version and health, and exit 0 after Shutdown instead of SIGKILL",
    () =>
      Effect.gen(function*() {
        const result = yield* vmre(["check", "--json", goPlugin])
        expect(result.code).toBe(0)
        const report = json(result.stdout)
        expect(report.version).toBe("goplugin/0.1.0")
        expect(report.health).toMatchObject({ healthy: true })
        expect(report.exit).toEqual({ code: 0, signal: null })
        expect(report.stopMs).toBeLessThan(5_000)
      })
  )

  it.live.skipIf(skipCCore)("a plugin on gRPC's C-core (Python, Debian's python3-grpcio)", () =>
    Effect.gen(function*() {
      const result = yield* vmre(["check", "--json", "--handshake-timeout", "30s", ccorePluginPath])
      expect(result.code, result.stderr).toBe(0)
      expect(json(result.stdout)).toMatchObject({
        ok: true,
        protocolVersion: 45,
        version: "ccore-plugin/1.0.0",
        health: { healthy: true },
        exit: { code: 0, signal: null }
      })
    }))

  it.live("a plugin that handshakes but serves no vm.VM fails the check (Version is unimplemented)", () =>
    Effect.gen(function*() {
      const args = fixtureArgs("check", "normal", "--json").filter((arg) => arg !== "--handshake-only")
      const result = yield* vmre(args)
      expect(result.code).toBe(1)
      const report = json(result.stdout)
      expect(report.ok).toBe(false)
      expect(report.error).toMatchObject({ tag: "VmCallFailed", method: "Version", code: "Unimplemented" })
    }))

  it.live("--sha256 prints the digest, and --expect-sha256 refuses any other binary", () =>
    Effect.gen(function*() {
      const digest = createHash("sha256").update(readFileSync(examplePlugin)).digest("hex")
      const printed = yield* vmre(["check", "--sha256", "--json", "--handshake-timeout", "30s", examplePlugin])
      expect(json(printed.stdout).sha256).toBe(digest)
      const pinned = yield* vmre(["check", "--expect-sha256", "0".repeat(64), "--json", examplePlugin])
      expect(pinned.code).toBe(1)
      expect(json(pinned.stdout).error).toMatchObject({ tag: "ChecksumMismatch", actual: digest })
    }), 60_000)

  it.live("--require-secret: a plugin written with @vmre/plugin presents the launch secret", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("check", "normal", "--require-secret", "--json"))
      expect(result.code).toBe(0)
      expect(json(result.stdout).ok).toBe(true)
    }))
})

describe("vmre run", () => {
  it.live("--restart relaunches a plugin that crashed, and SIGTERM then stops it", () =>
    Effect.gen(function*() {
      const state = join(mkdtempSync(join(tmpdir(), "vmre-cli-")), "state")
      const vmreProcess = yield* start(fixtureArgs("run", "crash-once", "--restart", "--env", `FIXTURE_STATE=${state}`))
      const stderr = yield* vmreProcess.waitForStderr((text) => text.includes("is serving again"), 30_000)
      expect(stderr).toMatch(/ended \(exit code 1.*\); restart 1 in a row/)
      vmreProcess.child.kill("SIGTERM")
      const finished = yield* vmreProcess.finished()
      expect(finished.code).toBe(0)
    }), 60_000)


  it.live("streams the plugin's lines, and on SIGTERM stops it and exits 0", () =>
    Effect.scoped(Effect.gen(function*() {
      const vmreProcess = yield* start(fixtureArgs("run", "normal", "--name", "fx"))
      const stderr = yield* vmreProcess.waitForStderr((text) => text.includes("Ctrl-C or SIGTERM stops it"))
      const pid = Number(/^vmre: fx \(pid (\d+)\) is serving at 127\.0\.0\.1:\d+, protocol 45/m.exec(stderr)?.[1])
      expect(isAlive(pid)).toBe(true)
      // Every line of the plugin, in the readable form.
      yield* vmreProcess.waitForStderr((text) => text.includes(`[fx ${pid} stdout] INFO INFO [11-27|04:50:00.000] plugin serving`))
      yield* vmreProcess.waitForStderr((text) => text.includes(`[fx ${pid} stderr] WARN WARN [11-27|04:50:00.001] a warning`))

      vmreProcess.child.kill("SIGTERM")
      const result = yield* vmreProcess.finished(15_000)
      expect(result.code).toBe(0)
      expect(result.stderr).toMatch(new RegExp(`^vmre: stopped fx \\(pid ${pid}\\) in [\\d.]+ ms: exit code 0$`, "m"))
      expect(result.stdout).toBe("")
      expect(isAlive(pid)).toBe(false)
    })))

  it.live("on Ctrl-C (SIGINT) also stops the plugin and exits 0", () =>
    Effect.scoped(Effect.gen(function*() {
      const vmreProcess = yield* start(fixtureArgs("run", "normal"))
      const stderr = yield* vmreProcess.waitForStderr((text) => text.includes("Ctrl-C or SIGTERM stops it"))
      const pid = Number(/\(pid (\d+)\) is serving/.exec(stderr)?.[1])
      vmreProcess.child.kill("SIGINT")
      const result = yield* vmreProcess.finished(15_000)
      expect(result.code).toBe(0)
      expect(isAlive(pid)).toBe(false)
    })))

  it.live("a plugin that exits on its own: says how it ended, exits 1", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("run", "exit-after-handshake"))
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/^vmre: node \(pid \d+\) exited on its own: exit code 0$/m)
      expect(result.stderr).toContain("last stderr lines:\n  WARN [11-27|04:50:00.001] a warning from the plugin")
    }))

  it.live("a plugin that fails to start: the launch error, exit 1", () =>
    Effect.gen(function*() {
      const result = yield* vmre(fixtureArgs("run", "crash"))
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("handshake failed: vm process exited before the handshake")
    }))
})

// The bin refuses an older Node before importing anything (the system's node may be 20).
const systemNode = ["/usr/bin/node", "/usr/local/bin/node"].find((candidate) => existsSync(candidate))
const systemNodeMajor = systemNode === undefined ?
  undefined :
  Number(execFileSync(systemNode, ["-p", "process.versions.node"], { encoding: "utf8" }).split(".")[0])

describe("bin/vmre.js", () => {
  it.runIf(systemNodeMajor !== undefined && systemNodeMajor < 22)("refuses to run on Node < 22", () => {
    let failure: { status: number; stderr: string } | undefined
    try {
      execFileSync(systemNode!, [resolve(repoRoot, "packages/cli/bin/vmre.js"), "--help"], {
        encoding: "utf8",
        stdio: "pipe",
        timeout: 10_000
      })
    } catch (error) {
      failure = error as { status: number; stderr: string }
    }
    expect(failure?.status).toBe(1)
    expect(failure?.stderr).toContain("vmre needs Node >= 22.18")
  })
})
