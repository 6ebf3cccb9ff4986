/** Runs the real `vmre` command as a subprocess, with every wait bounded. */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
export const bin = fileURLToPath(new URL("../bin/vmre.js", import.meta.url))
export const fixture = fileURLToPath(new URL("../../runtime/test/fixtures/plugin.ts", import.meta.url))
/** The example VM (a full vm.VM) and the Go plugin (grpc-go, built by the global setup). */
export const examplePlugin = fileURLToPath(new URL("../../../examples/payload-chain/bin/payload-chain", import.meta.url))
export { goPluginPath as goPlugin, skipGo } from "../../../test-support/goInterop.ts"

/**
 * `vmre <command> --handshake-only ...flags <node> <fixture.ts>`: the fixture plugin (which only
 * handshakes: it serves no vm.VM) in the given mode. vmre's flags come before the plugin:
 * everything after it is the plugin's. Unless the flags say otherwise, the handshake may take
 * 30 s (a loaded machine can exceed the default 5 s).
 */
export const fixtureArgs = (command: "check" | "run", mode: string, ...flags: Array<string>) => [
  command,
  "--handshake-only",
  "--env",
  `FIXTURE_MODE=${mode}`,
  ...(flags.includes("--handshake-timeout") ? [] : ["--handshake-timeout", "30s"]),
  ...flags,
  process.execPath,
  fixture
]

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly millis: number
}

export interface Started {
  readonly child: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Polls (every 20 ms, at most `timeoutMillis`) until `predicate(stderr)` holds; fails the test if not. */
  readonly waitForStderr: (predicate: (stderr: string) => boolean, timeoutMillis?: number) => Effect.Effect<string>
  /** Waits (at most `timeoutMillis`) for the process to end. */
  readonly finished: (timeoutMillis?: number) => Effect.Effect<Finished>
}

// On the way out of a test, a vmre still running gets SIGTERM (so it stops its plugin), then SIGKILL.
const terminate = (child: ChildProcess) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000)
      child.once("close", () => {
        clearTimeout(kill)
        resolve()
      })
      child.kill("SIGTERM")
    })
  )

/** Starts `vmre args` in the repository root; it is stopped when the scope closes. */
export const start = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  Effect.acquireRelease(
    Effect.sync((): Started => {
      const startedAt = performance.now()
      const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const closed = new Promise<Finished>((resolve) =>
        child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr, millis: performance.now() - startedAt }))
      )
      return {
        child,
        pid: child.pid!,
        stdout: () => stdout,
        stderr: () => stderr,
        waitForStderr: (predicate, timeoutMillis = 15_000) =>
          Effect.gen(function*() {
            const deadline = Date.now() + timeoutMillis
            while (!predicate(stderr)) {
              if (Date.now() > deadline) {
                return yield* Effect.die(new Error(`timed out after ${timeoutMillis} ms waiting for stderr; got:\n${stderr}`))
              }
              yield* Effect.sleep("20 millis")
            }
            return stderr
          }),
        finished: (timeoutMillis = 20_000) =>
          Effect.promise(() => closed).pipe(
            Effect.timeoutOrElse({
              duration: timeoutMillis,
              orElse: () =>
                Effect.die(new Error(`vmre ${args.join(" ")} still running after ${timeoutMillis} ms; stderr:\n${stderr}`))
            })
          )
      }
    }),
    ({ child }) => terminate(child)
  )

/** Runs `vmre args` to its end (at most `timeoutMillis`). */
export const vmre = (
  args: ReadonlyArray<string>,
  options: { readonly timeoutMillis?: number; readonly env?: NodeJS.ProcessEnv } = {}
): Effect.Effect<Finished> =>
  Effect.scoped(Effect.flatMap(start(args, options.env), (started) => started.finished(options.timeoutMillis)))

export { isAlive } from "../../../test-support/processes.ts"
