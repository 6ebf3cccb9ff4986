import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Logger, Option, Scope } from "effect"
import { createHash } from "node:crypto"
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { VmRuntime } from "../src/VmRuntime.ts"
import { captureLogs, countLogs, fixture, fixturePath, isAlive, waitUntil } from "./support.ts"

// Tests that do not look at the plugin's logs keep them out of the test output.
const quiet = Logger.layer([])

const launchIn = <A, E>(layer: Layer.Layer<never>, body: (runtime: VmRuntime["Service"]) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function*() {
    const runtime = yield* VmRuntime
    return yield* body(runtime)
  }).pipe(Effect.provide(Layer.merge(VmRuntime.layer, layer)))

describe("VmRuntime.launch", () => {
  it.live("launches a plugin, handshakes, forwards its logs, and stops it with the scope", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const vm = yield* launchIn(logs.layer, (runtime) => runtime.launch(fixture("normal"))).pipe(Scope.provide(scope))
      expect(vm.protocolVersion).toBe(45)
      expect(vm.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(Duration.toMillis(vm.handshakeDuration)).toBeGreaterThan(0)
      expect(isAlive(vm.pid)).toBe(true)
      expect(yield* vm.exitStatus).toEqual(Option.none())

      const forwarded = () => logs.lines.filter((l) => l.annotations.vm === "fixture-normal")
      yield* waitUntil(() => forwarded().length >= 3)
      const byText = (text: string) => forwarded().find((l) => l.message.includes(text))
      expect(byText("plugin serving")).toMatchObject({ level: "Info", annotations: { pid: vm.pid, stream: "stdout" } })
      expect(byText("a warning from the plugin")).toMatchObject({ level: "Warn", annotations: { stream: "stderr" } })
      expect(byText("a json error line")).toMatchObject({ level: "Error", annotations: { stream: "stdout" } })
      // The recent lines of both streams stay available to the host (the two pipes interleave freely).
      const recent = yield* vm.recentLines
      expect([...recent].sort()).toEqual([
        `stderr: WARN [11-27|04:50:00.001] a warning from the plugin`,
        `stdout: INFO [11-27|04:50:00.000] plugin serving addr=${vm.vmAddr}`,
        `stdout: {"@level":"error","@message":"a json error line"}`
      ])

      yield* Scope.close(scope, Exit.void)
      expect(isAlive(vm.pid)).toBe(false)
      // The plugin stops gracefully on SIGTERM.
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
    })
  })

  it.live("a plugin gets the engine address, GRPC_*, GODEBUG*, OTEL_* and VMRE_GRPC_ENGINE of the host's environment, nothing else", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "vmre-env-"))
      const dump = join(dir, "env")
      // `export -p` is a shell built-in: the plugin has no PATH.
      const plugin = join(dir, "plugin")
      writeFileSync(plugin, `#!/bin/sh\nexport -p > ${dump}\nFIXTURE_MODE=normal exec ${process.execPath} ${fixturePath}\n`)
      chmodSync(plugin, 0o755)
      const host = { GRPC_VERBOSITY: "debug", GODEBUG: "http2debug=1", OTEL_SERVICE_NAME: "node", VMRE_GRPC_ENGINE: "connect", VMRE_TEST_PRIVATE: "secret" }
      const saved = Object.fromEntries(Object.keys(host).map((k) => [k, process.env[k]]))
      yield* Effect.acquireRelease(Effect.sync(() => Object.assign(process.env, host)), () =>
        Effect.sync(() => {
          for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v)
        }))
      const vm = yield* launchIn(Logger.layer([]), (runtime) => runtime.launch({ path: plugin, name: "env" }))
      const seen = readFileSync(dump, "utf8")
      for (const [name, value] of Object.entries(host)) {
        if (name === "VMRE_TEST_PRIVATE") expect(seen).not.toContain(name)
        else expect(seen).toContain(`${name}='${value}'`)
      }
      expect(seen).toMatch(/AVALANCHE_VM_RUNTIME_ENGINE_ADDR='127\.0\.0\.1:\d+'/)
      expect(seen).not.toMatch(/\bPATH=|\bHOME=/)
      // The fixture plugin served over Connect's engine, as the host's variable said: it still answers.
      expect(vm.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
    }).pipe(Effect.scoped))

  it.live("fails with HandshakeTimeout when the plugin never calls Initialize, and kills it", () =>
    Effect.gen(function*() {
      const error = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("never-handshake", { handshakeTimeout: "1 second" }))).pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("HandshakeTimeout")
      if (error._tag !== "HandshakeTimeout") return
      expect(error.message).toMatch(/^handshake failed: timeout: .* within 1000 ms/)
      expect(isAlive(error.pid)).toBe(false)
    }))

  it.live("fails with ProtocolVersionMismatch naming both versions", () =>
    Effect.gen(function*() {
      const error = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("normal", { fixtureEnv: { FIXTURE_PROTOCOL: "44" } }))).pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("ProtocolVersionMismatch")
      if (error._tag !== "ProtocolVersionMismatch") return
      expect({ node: error.node, vm: error.vm }).toEqual({ node: 45, vm: 44 })
      expect(error.message).toMatch(/^handshake failed: protocol version mismatch node: 45 vm: 44\. /)
      expect(error.message).toContain("avalanchego v1.14.0-v1.14.1")
    }))

  it.live("accepts a set of versions and reports the one the plugin spoke", () =>
    Effect.gen(function*() {
      const vm = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("normal", { protocolVersion: [42, 43, 44, 45], fixtureEnv: { FIXTURE_PROTOCOL: "43" } }))).pipe(
          Effect.scoped
        )
      expect(vm.protocolVersion).toBe(43)
      const error = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("normal", { protocolVersion: [44, 45], fixtureEnv: { FIXTURE_PROTOCOL: "43" } }))).pipe(
          Effect.scoped,
          Effect.flip
        )
      expect(error.message).toMatch(/^handshake failed: protocol version mismatch node: 44,45 vm: 43\. /)
    }))

  it.live("accepts another protocol version when configured to", () =>
    Effect.gen(function*() {
      const vm = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("normal", { protocolVersion: 44, fixtureEnv: { FIXTURE_PROTOCOL: "44" } }))).pipe(
          Effect.scoped
        )
      expect(vm.protocolVersion).toBe(44)
    }))

  it.live("reports a crash before the handshake at once, with exit code and stderr tail", () =>
    Effect.gen(function*() {
      const error = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("crash", { handshakeTimeout: "60 seconds" }))).pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("ProcessExitedBeforeHandshake")
      if (error._tag !== "ProcessExitedBeforeHandshake") return
      expect(error.exitCode).toBe(3)
      expect(error.signal).toBeNull()
      expect(error.afterMillis).toBeLessThan(60_000)
      expect(error.stderrTail).toEqual([
        "starting crash fixture",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "goroutine 1 [running]:"
      ])
      expect(error.message).toContain("exit code 3")
      expect(error.message).toContain("panic: runtime error")
    }), 15_000)

  it.live("rejects a vm address that is not loopback", () =>
    Effect.gen(function*() {
      const error = yield* launchIn(quiet, (runtime) => runtime.launch(fixture("bad-addr"))).pipe(
        Effect.scoped,
        Effect.flip
      )
      expect(error._tag).toBe("InvalidVmAddress")
      expect(error.message).toContain("10.1.2.3 is not a loopback address")
    }))

  it.live("a plugin that exits right after the handshake: launch succeeds, exit is observed", () =>
    Effect.gen(function*() {
      const exit = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("exit-after-handshake")).pipe(Effect.flatMap((vm) => vm.exit))).pipe(Effect.scoped)
      expect(exit).toEqual({ code: 0, signal: null })
    }))

  it.live("SIGKILLs a plugin that ignores SIGTERM after the grace period", () =>
    Effect.gen(function*() {
      const [elapsed, [pid, exit]] = yield* launchIn(quiet, (runtime) =>
        Effect.gen(function*() {
          const vm = yield* runtime.launch(fixture("ignore-sigterm", { stopTimeout: "500 millis" }))
          return [vm.pid, yield* vm.stop] as const
        })).pipe(Effect.scoped, Effect.timed)
      expect(exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(isAlive(pid)).toBe(false)
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(500)
    }))

  it.live("stop is idempotent and the scope's finalizer does not stop twice", () =>
    Effect.gen(function*() {
      const [first, second] = yield* launchIn(quiet, (runtime) =>
        Effect.gen(function*() {
          const vm = yield* runtime.launch(fixture("normal"))
          return [yield* vm.stop, yield* vm.stop] as const
        })).pipe(Effect.scoped)
      expect(first).toEqual({ code: 0, signal: null })
      expect(second).toEqual(first)
    }))

  it.live("kills a grandchild that holds the plugin's pipes open (process group)", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      yield* launchIn(logs.layer, (runtime) =>
        Effect.gen(function*() {
          yield* runtime.launch(fixture("spawn-grandchild", { stopTimeout: "500 millis" }))
          yield* waitUntil(() => logs.lines.some((l) => l.message.startsWith("grandchild ")))
        })).pipe(Effect.scoped)
      const line = logs.lines.find((l) => l.message.startsWith("grandchild "))
      const grandchild = Number(line?.message.split(" ")[1])
      expect(grandchild).toBeGreaterThan(0)
      expect(yield* waitUntil(() => !isAlive(grandchild), 3_000)).toBe(true)
    })
  })

  it.live("forwards a 50 MB flood line by line without losing any, with bounded host memory", () => {
    const logs = countLogs()
    return Effect.gen(function*() {
      const baseline = process.memoryUsage().rss
      let peak = baseline
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25)
      yield* launchIn(logs.layer, (runtime) =>
        Effect.gen(function*() {
          yield* runtime.launch(fixture("flood", { fixtureEnv: { FIXTURE_FLOOD_MB: "50" } }))
          yield* waitUntil(() => logs.counts.last.startsWith("flood done"), 60_000)
        })).pipe(Effect.scoped, Effect.ensuring(Effect.sync(() => clearInterval(sampler))))
      const floodLines = Number(logs.counts.last.split(" ")[2])
      expect(floodLines).toBeGreaterThan(500_000)
      // 3 lines before the flood, the flood, and its closing line.
      expect(logs.counts.lines).toBe(3 + floodLines + 1)
      expect(peak - baseline).toBeLessThan(200 * 1024 * 1024)
    })
  }, 90_000)

  it.live("interrupting a launch during the handshake kills the child", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const fiber = yield* launchIn(logs.layer, (runtime) =>
        runtime.launch(fixture("never-handshake", { handshakeTimeout: "60 seconds" }))).pipe(
          Effect.scoped,
          Effect.forkChild
        )
      yield* waitUntil(() => logs.lines.some((l) => l.message.includes("never calling Initialize")))
      const pid = logs.lines.find((l) => l.message.includes("never calling Initialize"))?.annotations.pid as number
      expect(isAlive(pid)).toBe(true)
      yield* Fiber.interrupt(fiber)
      expect(isAlive(pid)).toBe(false)
    })
  })
})

describe("VmRuntime.launch beside a hostile local neighbour", () => {
  it.live("a connection to the engine port that never speaks does not hold the launch or its stop", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // The plugin itself opens the silent connection before its handshake, as any local process could.
      const [took, vm] = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("silent-neighbour", { handshakeTimeout: "5 seconds" }))).pipe(
          Scope.provide(scope),
          Effect.timed
        )
      // Before: the launch waited for the runtime server to close, i.e. for the neighbour to leave.
      expect(Duration.toMillis(took)).toBeLessThan(5_000)
      expect(vm.protocolVersion).toBe(45)
      yield* Scope.close(scope, Exit.void)
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
    }), 30_000)
})

describe("VmRuntime.launch of a binary that cannot start", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmre-spawn-"))
  const file = (name: string, content: string | Buffer, mode: number) => {
    const path = join(dir, name)
    writeFileSync(path, content)
    chmodSync(path, mode)
    return path
  }
  const elf = (machine: number) => {
    const header = Buffer.alloc(64)
    header.writeUInt32BE(0x7f454c46, 0)
    header[4] = 2 // 64-bit
    header[5] = 1 // little endian
    header.writeUInt16LE(machine, 18)
    return header
  }
  const cases: ReadonlyArray<readonly [string, () => string, string, RegExp]> = [
    ["a missing file", () => join(dir, "nope"), "NotFound", /no such file/],
    ["a directory", () => dir, "NotAFile", /is a directory/],
    ["a file without the execute bit", () => file("plain", "#!/bin/sh\n", 0o644), "NotExecutable", /mode 0644.*chmod \+x/],
    ["an ELF binary for another CPU", () => file("arm", elf(0xb7), 0o755), "WrongArchitecture", /ELF binary for arm64/],
    ["a Mach-O binary", () => file("mac", Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0]), 0o755), "WrongFormat", /Mach-O/],
    ["a script whose interpreter is missing", () => file("bad", "#!/no/such/interp\n", 0o755), "BadInterpreter", /\/no\/such\/interp/],
    ["a script that needs PATH", () => file("envnode", "#!/usr/bin/env node\n", 0o755), "BadInterpreter", /without PATH/],
    // execvp would run these with /bin/sh ("exit code 0"); the Go nodes' exec refuses them.
    ["an empty executable file", () => file("empty", "", 0o755), "WrongFormat", /empty file/],
    ["a script without #!", () => file("noshebang", "echo hello\nexit 0\n", 0o755), "WrongFormat", /without a #! line/],
    ["a truncated ELF binary", () => file("truncated", elf(0x3e).subarray(0, 20), 0o755), "WrongFormat", /truncated ELF binary \(20 bytes\)/],
    ["a #! line with CRLF", () => file("crlf", "#!/bin/sh\r\nexit 0\r\n", 0o755), "BadInterpreter", /carriage return.*LF line endings/]
  ]
  for (const [what, path, reason, detail] of cases) {
    it.live(`fails with SpawnFailed(${reason}) for ${what}`, () =>
      Effect.gen(function*() {
        const error = yield* launchIn(quiet, (runtime) => runtime.launch({ path: path() })).pipe(
          Effect.scoped,
          Effect.flip
        )
        expect(error._tag).toBe("SpawnFailed")
        if (error._tag !== "SpawnFailed") return
        expect(error.reason).toBe(reason)
        expect(error.message).toMatch(detail)
      }))
  }
})

describe("VmRuntime.launch integrity and secrecy options", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmre-pin-"))
  // A wrapper script is the plugin binary here, so the pinned digest is of a small file.
  const wrapper = join(dir, "fixture-plugin")
  writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${fixturePath}"\n`)
  chmodSync(wrapper, 0o755)
  const digest = createHash("sha256").update(readFileSync(wrapper)).digest("hex")

  it.live("starts a binary whose SHA-256 matches its pin", () =>
    Effect.gen(function*() {
      const vm = yield* launchIn(quiet, (runtime) =>
        runtime.launch({ path: wrapper, sha256: digest.toUpperCase(), env: { FIXTURE_MODE: "normal" } })).pipe(
          Effect.scoped
        )
      expect(vm.protocolVersion).toBe(45)
    }))

  it.live("refuses a binary whose SHA-256 differs, before starting anything", () =>
    Effect.gen(function*() {
      const wrong = "0".repeat(64)
      const error = yield* launchIn(quiet, (runtime) =>
        runtime.launch({ path: wrapper, sha256: wrong, env: { FIXTURE_MODE: "normal" } })).pipe(
          Effect.scoped,
          Effect.flip
        )
      expect(error._tag).toBe("ChecksumMismatch")
      expect(error.message).toContain(digest)
      expect(error.message).toContain(wrong)
    }))

  it.live("with requireSecret, a plugin that presents a wrong secret is told apart from one that never called", () =>
    Effect.gen(function*() {
      const error = yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("wrong-secret", { requireSecret: true, handshakeTimeout: "3 seconds" }))).pipe(
          Effect.scoped,
          Effect.flip
        )
      expect(error).toMatchObject({ _tag: "HandshakeTimeout", refusedSecrets: 1 })
      expect(error.message).toMatch(/called vm\.runtime\.Runtime\/Initialize 1 time\(s\) without this launch's secret/)
    }), 30_000)

  it.live("with requireSecret, a plugin written with @vmre/plugin presents the launch secret", () =>
    Effect.gen(function*() {
      const vm = yield* launchIn(quiet, (runtime) => runtime.launch(fixture("normal", { requireSecret: true }))).pipe(
        Effect.scoped
      )
      expect(vm.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
    }))
})

describe("VmRuntime.launch raw output copies", () => {
  it.live("appends the plugin's raw stdout and stderr bytes to the given files", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "vmre-raw-"))
      const stdoutFile = join(dir, "stdout.log")
      const stderrFile = join(dir, "stderr.log")
      writeFileSync(stdoutFile, "earlier line\n")
      yield* launchIn(quiet, (runtime) =>
        runtime.launch(fixture("crash-once", {
          stdoutFile,
          stderrFile,
          fixtureEnv: { FIXTURE_STATE: join(dir, "state") }
        })).pipe(Effect.flatMap((vm) => Effect.andThen(vm.exit, vm.drained("2 seconds"))))).pipe(Effect.scoped)
      const stdout = readFileSync(stdoutFile, "utf8")
      expect(stdout.startsWith("earlier line\nINFO [11-27|04:50:00.000] plugin serving addr=127.0.0.1:")).toBe(true)
      expect(stdout).toContain(`{"@level":"error","@message":"a json error line"}\n`)
      expect(readFileSync(stderrFile, "utf8")).toBe("WARN [11-27|04:50:00.001] a warning from the plugin\n")
    }))
})
