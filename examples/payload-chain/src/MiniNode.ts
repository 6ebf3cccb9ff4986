/**
 * A tiny stand-in for a node, enough to drive a VM plugin the way avalanchego does: the
 * runtime handshake, a `vm.VM` client, an rpcdb server for the chain's database, and the
 * upstream stop sequence (Shutdown, then SIGTERM, then SIGKILL after a bound).
 *
 * The demo (`npm start`) and the tests use it. vmre's real host lives in @vmre/runtime.
 */
import { type Client, createClient } from "@connectrpc/connect"
import { Runtime as RuntimeService } from "@vmre/proto/vm/runtime/runtime_pb"
import { VM } from "@vmre/proto/vm/vm_pb"
import { GrpcClient, GrpcServer } from "@vmre/transport"
import { Deferred, Effect, Exit, Schema, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"

export class LaunchFailed extends Schema.TaggedError<LaunchFailed>()("LaunchFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `cannot launch the plugin: ${this.reason}`
  }
}

export interface LaunchOptions {
  /** Absolute path of the plugin executable. */
  readonly executable: string
  readonly protocolVersion?: number
  readonly handshakeTimeoutMillis?: number
  /** The engine address variable (default VM_RUNTIME_ENGINE_ADDR). */
  readonly engineAddrEnvName?: string
  /** Each line the plugin writes. Default: ignored. */
  readonly onOutput?: (stream: "stdout" | "stderr", line: string) => void
  /** Bound on each step of the stop sequence. */
  readonly stopStepMillis?: number
}

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface LaunchedPlugin {
  readonly pid: number
  readonly vmAddr: string
  readonly vm: Client<typeof VM>
  /** Completes when the process has exited. */
  readonly exited: Effect.Effect<ExitInfo>
  readonly exitInfo: () => ExitInfo | undefined
  readonly child: ChildProcess
}

const lines = (onLine: (line: string) => void) => {
  let rest = ""
  return (chunk: Buffer) => {
    const text = rest + chunk.toString("utf8")
    const parts = text.split("\n")
    rest = parts.pop() ?? ""
    for (const part of parts) onLine(part)
  }
}

/**
 * Starts the plugin the upstream way (no arguments, cwd `/`, an environment of only the
 * engine address, stdin /dev/null), waits for its handshake and dials it. When the scope
 * closes: Shutdown, SIGTERM, SIGKILL (each step bounded).
 */
export const launch = (options: LaunchOptions): Effect.Effect<LaunchedPlugin, LaunchFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const protocolVersion = options.protocolVersion ?? 45
    const stepMillis = options.stopStepMillis ?? 5_000
    const handshake = yield* Deferred.make<{ protocolVersion: number; addr: string }>()
    const runtimeScope = yield* Scope.make()
    const runtime = yield* GrpcServer.serve((router) => {
      router.service(RuntimeService, {
        initialize: (request) =>
          Effect.runPromise(Deferred.succeed(handshake, { protocolVersion: request.protocolVersion, addr: request.addr }))
            .then(() => {
              if (request.protocolVersion !== protocolVersion) {
                throw new Error(`protocol version mismatch node ${protocolVersion} vm ${request.protocolVersion}`)
              }
              return {}
            })
      })
    }).pipe(
      Scope.provide(runtimeScope),
      Effect.mapError((error) => new LaunchFailed({ reason: error.message }))
    )

    const exited = yield* Deferred.make<ExitInfo>()
    let exitInfo: ExitInfo | undefined
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const child = spawn(options.executable, [], {
            cwd: "/",
            env: { [options.engineAddrEnvName ?? "VM_RUNTIME_ENGINE_ADDR"]: runtime.address },
            stdio: ["ignore", "pipe", "pipe"]
          })
          child.on("exit", (code, signal) => {
            exitInfo = { code, signal }
            Effect.runFork(Deferred.succeed(exited, exitInfo))
          })
          child.on("error", (error) => {
            exitInfo = { code: null, signal: null }
            options.onOutput?.("stderr", `spawn failed: ${error.message}`)
            Effect.runFork(Deferred.succeed(exited, exitInfo))
          })
          const onOutput = options.onOutput ?? (() => {})
          child.stdout?.on("data", lines((line) => onOutput("stdout", line)))
          child.stderr?.on("data", lines((line) => onOutput("stderr", line)))
          return child
        },
        catch: (error) => new LaunchFailed({ reason: String(error) })
      }),
      (child) => stop(child)
    )

    // The upstream stop sequence: Shutdown (done by the caller or below), SIGTERM, SIGKILL.
    const stop = (child: ChildProcess) =>
      Effect.gen(function*() {
        if (exitInfo !== undefined) return
        child.kill("SIGTERM")
        const first = yield* Deferred.await(exited).pipe(Effect.timeoutOption(stepMillis))
        if (first._tag === "Some") return
        child.kill("SIGKILL")
        yield* Deferred.await(exited).pipe(Effect.timeoutOption(stepMillis))
      })

    const outcome = yield* Effect.raceFirst(
      Deferred.await(handshake).pipe(Effect.map((h) => ({ _tag: "handshake" as const, ...h }))),
      Deferred.await(exited).pipe(Effect.map((info) => ({ _tag: "exited" as const, info })))
    ).pipe(
      Effect.timeoutOption(options.handshakeTimeoutMillis ?? 10_000)
    )
    yield* Scope.close(runtimeScope, Exit.void)
    if (outcome._tag === "None") return yield* new LaunchFailed({ reason: "handshake timeout" })
    if (outcome.value._tag === "exited") {
      const { code, signal } = outcome.value.info
      return yield* new LaunchFailed({ reason: `the plugin exited before the handshake (code ${code}, signal ${signal})` })
    }
    if (outcome.value.protocolVersion !== protocolVersion) {
      return yield* new LaunchFailed({
        reason: `protocol version mismatch node ${protocolVersion} vm ${outcome.value.protocolVersion}`
      })
    }
    const { transport } = yield* GrpcClient.transport(outcome.value.addr)
    const vm = createClient(VM, transport)
    // Runs before the kill above (finalizers run last-in-first-out): Shutdown first.
    yield* Effect.addFinalizer(() =>
      exitInfo !== undefined ? Effect.void : Effect.promise(() =>
        vm.shutdown({}, { timeoutMs: stepMillis }).then(() => undefined, () => undefined)
      )
    )
    return {
      pid: child.pid ?? -1,
      vmAddr: outcome.value.addr,
      vm,
      exited: Deferred.await(exited),
      exitInfo: () => exitInfo,
      child
    }
  })
