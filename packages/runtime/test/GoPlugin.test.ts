/**
 * The runtime against a third-party plugin binary: a Go program built with grpc-go from
 * Debian's packages (interop/go/plugin), which behaves like a plugin built for avalanchego.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { spawn } from "node:child_process"
import { type LaunchConfig, VmRuntime } from "../src/VmRuntime.ts"
import { goHostPath, goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { captureLogs, fixturePath, isAlive, waitUntil } from "./support.ts"

const launchGo = (
  mode: string,
  options: Pick<LaunchConfig, "protocolVersion" | "handshakeTimeout" | "stopTimeout" | "env"> = {},
  logs: Layer.Layer<never> = Logger.layer([])
) =>
  Effect.gen(function*() {
    const runtime = yield* VmRuntime
    return yield* runtime.launch({
      path: goPluginPath,
      name: `go-${mode}`,
      env: { GO_PLUGIN_MODE: mode, ...options.env },
      protocolVersion: options.protocolVersion,
      handshakeTimeout: options.handshakeTimeout,
      stopTimeout: options.stopTimeout
    })
  }).pipe(Effect.provide(Layer.merge(VmRuntime.layer, logs)))

describe.skipIf(skipGo)("VmRuntime.launch of a Go plugin (grpc-go)", () => {
  it.live("handshakes, forwards its console-style logs with levels, and stops it", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const vm = yield* launchGo("normal", { stopTimeout: "500 millis" }, logs.layer)
      expect(vm.protocolVersion).toBe(45)
      expect(vm.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      yield* waitUntil(() => logs.lines.some((l) => l.message.includes("runtime handshake done")))
      const line = logs.lines.find((l) => l.message.includes("runtime handshake done"))
      expect(line).toMatchObject({ level: "Info", annotations: { vm: "go-normal", pid: vm.pid, stream: "stdout" } })
      // Upstream plugins ignore SIGTERM until the Shutdown RPC: without it, the grace period ends in SIGKILL.
      const exit = yield* vm.stop
      expect(exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(isAlive(vm.pid)).toBe(false)
      expect(logs.lines.some((l) => l.level === "Warn" && l.annotations.stream === "stderr")).toBe(true)
    }).pipe(Effect.scoped)
  })

  it.live("HandshakeTimeout for a Go plugin that never calls Initialize", () =>
    Effect.gen(function*() {
      const error = yield* launchGo("never-handshake", { handshakeTimeout: "1 second" }).pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("HandshakeTimeout")
      expect(error.message).toMatch(/^handshake failed: timeout/)
    }))

  it.live("ProcessExitedBeforeHandshake for a Go panic, at once, with the panic in the tail", () =>
    Effect.gen(function*() {
      const error = yield* launchGo("crash-before-handshake", { handshakeTimeout: "60 seconds" }).pipe(
        Effect.scoped,
        Effect.flip
      )
      expect(error._tag).toBe("ProcessExitedBeforeHandshake")
      if (error._tag !== "ProcessExitedBeforeHandshake") return
      expect(error.exitCode).toBe(2)
      expect(error.stderrTail.some((line) => line.startsWith("panic: boom"))).toBe(true)
    }), 15_000)

  it.live("ProtocolVersionMismatch for a Go plugin built for protocol 44", () =>
    Effect.gen(function*() {
      const error = yield* launchGo("normal", { env: { GO_PLUGIN_PROTOCOL: "44" } }).pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("ProtocolVersionMismatch")
      expect(error.message).toMatch(/^handshake failed: protocol version mismatch node: 45 vm: 44\./)
    }))

  it.live("InvalidVmAddress for a Go plugin that reports a foreign address", () =>
    Effect.gen(function*() {
      const error = yield* launchGo("bad-addr").pipe(Effect.scoped, Effect.flip)
      expect(error._tag).toBe("InvalidVmAddress")
    }))

  it.live("a Go plugin exiting right after the handshake is observed", () =>
    Effect.gen(function*() {
      const exit = yield* launchGo("exit-after-handshake", { env: { GO_PLUGIN_EXIT_CODE: "7" } }).pipe(
        Effect.flatMap((vm) => vm.exit),
        Effect.scoped
      )
      expect(exit).toEqual({ code: 7, signal: null })
    }))
})

describe.skipIf(skipGo)("a Go node (grpc-go) launching a plugin written with @vmre/plugin", () => {
  it.live("the Go host completes the runtime handshake with our TypeScript plugin", () =>
    Effect.gen(function*() {
      // The Go host starts the plugin the upstream way: only the engine address in its env.
      const host = spawn(goHostPath, ["-env", "FIXTURE_MODE=normal", process.execPath, fixturePath], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => host.kill("SIGKILL")))
      let stdout = ""
      host.stdout.on("data", (chunk) => (stdout += chunk))
      host.stderr.on("data", () => {})
      const done = yield* waitUntil(() => stdout.includes("\n"), 20_000)
      expect(done).toBe(true)
      const report = JSON.parse(stdout.split("\n")[0]!) as Record<string, unknown>
      expect(report.protocolVersion).toBe(45)
      expect(report.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(report.handshakeMs).toBeTypeOf("number")
      expect(report.health).toBe("SERVING")
    }).pipe(Effect.scoped), 30_000)
})
