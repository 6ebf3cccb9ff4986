/**
 * The host's typed client of a VM plugin's `vm.VM` service (rpcchainvm ChainVM), as a service.
 *
 * One method per RPC, with plain values at the API: ids as validated 32-byte {@link Id}s
 * (node ids as 20-byte {@link NodeId}s), heights as `bigint`, instants as `DateTime`
 * (millisecond precision: sub-millisecond nanos of a VM's timestamps are dropped), durations
 * as `Duration`. The `vm.Error` enum comes back as the typed errors `NotFound`, `Closed` and
 * `StateSyncNotImplemented`; a gRPC error status from the VM as `VmCallFailed`; a call
 * without an answer as `VmUnavailable`; and a call made after the plugin process died, or
 * pending when it dies, as `VmProcessExited`. Every call is bounded by a per-call timeout.
 *
 * As upstream, the connection is dialed lazily and calls wait for it to be ready (gRPC
 * "wait for ready"), except `health`, which fails fast.
 *
 * - {@link ChainVm.layer}: launch a plugin with the {@link VmRuntime} and provide the client
 *   (and the launched {@link CurrentVm}); closing the scope runs the upstream stop sequence.
 * - {@link ChainVm.make}: a client for a VM already listening at an address.
 * - {@link ChainVm.layerTest}: a client of an in-process `vm.VM` implementation, for tests.
 */
import { type ConnectRouter, createRouterTransport, type ServiceImpl, type Transport } from "@connectrpc/connect"
import * as pb from "@vmre/proto/vm/vm_pb"
import { GrpcClient } from "@vmre/transport"
import { type Config, Context, Duration, Effect, Layer, Option, type Scope } from "effect"
import { type AttachError, type LaunchError, VmUnavailable } from "../Errors.ts"
import type { VmProcessHandle } from "../VmProcess.ts"
import { type AttachConfig, type LaunchConfig, type VmInstance, VmRuntime } from "../VmRuntime.ts"
import { VmMetrics } from "../VmMetrics.ts"
import type { ClientOptions } from "./Call.ts"
import { type ChainVmClient, makeClient } from "./Client.ts"

export interface ConnectOptions extends ClientOptions {
  /** `127.0.0.1:PORT` of the VM's gRPC server. */
  readonly address: string
  /** The plugin process serving it: calls race its exit. */
  readonly process?: VmProcessHandle | undefined
}

export interface ChainVmConfig extends LaunchConfig, ClientOptions {
  /** Bound on the `Shutdown` call of the stop sequence (default 5 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
}

export interface ChainVmAttachConfig extends AttachConfig, ClientOptions {
  readonly shutdownTimeout?: Duration.Input | undefined
}

/** The plugin {@link ChainVm.layer} launched. */
export class CurrentVm extends Context.Service<CurrentVm, VmInstance>()("@vmre/runtime/CurrentVm") {}

const DEFAULT_SHUTDOWN_TIMEOUT = Duration.seconds(5)

const make = Effect.fnUntraced(function*(options: ConnectOptions) {
  // The engine asked for, else the environment's (vmre's offers no compression: gzip keeps Connect's).
  const conn = yield* GrpcClient.transport(options.address, {
    keepalive: options.keepalive,
    connectTimeout: options.connectTimeout,
    ...(options.compression === undefined ? {} : { compression: options.compression }),
    engine: options.engine
  })
  // gRPC "wait for ready": (re)connect with a backoff until the connection is up; the
  // call's timeout and the process's exit bound the wait. Unlike grpc-go, an address that
  // refuses every connection from the start is not waited on for the whole call timeout: the
  // VM reported it at its handshake and nothing listens there (after `refusedGrace`).
  let everConnected = false
  let lastError: string | undefined
  // One fiber per client watches the process: its exit aborts calls in flight and ends waits.
  const exited = new AbortController()
  if (options.process !== undefined) {
    yield* Effect.forkScoped(Effect.andThen(options.process.exit, Effect.sync(() => exited.abort(new Error("the vm process exited")))))
  }
  const processExited = Effect.callback<void>((resume) => {
    if (exited.signal.aborted) return resume(Effect.void)
    const onAbort = () => resume(Effect.void)
    exited.signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => exited.signal.removeEventListener("abort", onAbort))
  })
  const refusedGraceMillis = Duration.toMillis(Duration.fromInputUnsafe(options.refusedGrace ?? Duration.seconds(1)))
  const readyNow = () => {
    const state = conn.sessionManager.state()
    if (state !== "open" && state !== "idle") return false
    everConnected = true
    return true
  }
  const ready = Effect.gen(function*() {
    if (readyNow()) return
    let delay = 10
    const began = Date.now()
    while ((yield* Effect.promise(() => conn.sessionManager.connect())) === "error") {
      if (exited.signal.aborted) return yield* Effect.fail("the vm process exited")
      const error = conn.sessionManager.error()
      lastError = error instanceof Error ? error.message : String(error)
      const refused = (error as NodeJS.ErrnoException | undefined)?.code === "ECONNREFUSED" || /ECONNREFUSED/.test(lastError)
      if (refused && !everConnected && Date.now() - began >= refusedGraceMillis) {
        return yield* Effect.fail(
          `connection refused at ${options.address}: the vm reported this address at its handshake, but nothing ` +
            `accepts connections there (${lastError})`
        )
      }
      // The backoff ends early when the process exits (only this rare path races).
      yield* Effect.raceFirst(Effect.sleep(Duration.millis(delay)), processExited)
      delay = Math.min(delay * 2, 1_000)
    }
    everConnected = true
    lastError = undefined
  })
  return makeClient({
    transport: conn.transport,
    options,
    ready,
    readyNow,
    lastConnectError: () => lastError,
    process: options.process === undefined ? undefined : { handle: options.process, exited: exited.signal },
    isClosed: conn.isClosed
  })
})

/**
 * The first step of the upstream stop sequence: `Shutdown`, bounded by `shutdownTimeout`
 * whatever `timeouts.Shutdown` says. Never fails: a VM that does not answer is stopped anyway.
 */
const stopSequence = (client: ChainVmClient, vm: VmInstance, shutdownTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    if (Option.isSome(yield* vm.exitStatus)) {
      return yield* Effect.logDebug(`${vm.name} already exited: no Shutdown call`)
    }
    yield* client.shutdown().pipe(
      Effect.timeoutOrElse({
        duration: shutdownTimeout,
        orElse: () =>
          Effect.fail(
            new VmUnavailable({
              method: "Shutdown",
              code: "DeadlineExceeded",
              reason: `no answer within ${Duration.format(shutdownTimeout)}`
            })
          )
      }),
      Effect.tap(() => Effect.logDebug(`${vm.name} acknowledged Shutdown`)),
      Effect.catch((error) => Effect.logWarning(`stopping ${vm.name}: ${error.message}; stopping the process anyway`))
    )
  }).pipe(
    Effect.catchCause((cause) => Effect.logWarning(`stopping ${vm.name}: Shutdown call failed`, cause)),
    Effect.withSpan("ChainVm.shutdown", { attributes: { "vm.name": vm.name, "vm.pid": vm.pid } })
  )

/** A client of a plugin that completed its handshake, whose close runs the stop sequence. */
const connect = Effect.fnUntraced(function*(
  vm: VmInstance,
  config: ClientOptions & { readonly shutdownTimeout?: Duration.Input | undefined }
) {
  const client = yield* make({ ...config, address: vm.vmAddr, process: vm })
  const shutdownTimeout = config.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT
  yield* Effect.addFinalizer(() =>
    stopSequence(client, vm, Duration.fromInputUnsafe(shutdownTimeout)).pipe(
      Effect.annotateLogs({ vm: vm.name, pid: vm.pid })
    )
  )
  // With a metrics endpoint, the VM's process and Gather families are served until it stops.
  const metrics = yield* Effect.serviceOption(VmMetrics)
  if (Option.isSome(metrics)) yield* metrics.value.register({ name: vm.name, pid: vm.pid, gather: client.gather() })
  return { client, vm }
})

const launch = Effect.fnUntraced(function*(config: ChainVmConfig) {
  const runtime = yield* VmRuntime
  // The process's scope is a child of this scope, forked now: everything added by `connect`
  // is finalized before it (last in, first out), so the order on close is Shutdown, close
  // the connection, then SIGTERM, grace, SIGKILL.
  return yield* connect(yield* runtime.launch(config), config)
})

const attach = Effect.fnUntraced(function*(config: ChainVmAttachConfig) {
  const runtime = yield* VmRuntime
  return yield* connect(yield* runtime.attach(config), config)
})

export class ChainVm extends Context.Service<ChainVm, ChainVmClient>()("@vmre/runtime/ChainVm") {
  /** A client of the VM at `options.address`; the connection is closed with the scope. */
  static readonly make = (options: ConnectOptions): Effect.Effect<ChainVmClient, never, Scope.Scope> => make(options)

  /** A client over any Connect transport (no readiness wait, no process). */
  static readonly fromTransport = (transport: Transport, options: ClientOptions = {}): ChainVmClient =>
    makeClient({ transport, options, ready: undefined, process: undefined, isClosed: () => false })

  /**
   * Launches the plugin and connects to it. Closing the scope runs the stop sequence:
   * `Shutdown` (bounded), close the connection, then the process's SIGTERM, grace, SIGKILL.
   */
  static readonly launch = (
    config: ChainVmConfig
  ): Effect.Effect<{ readonly client: ChainVmClient; readonly vm: VmInstance }, LaunchError, VmRuntime | Scope.Scope> =>
    launch(config)

  /**
   * Attach mode: waits at `config.listen` for a plugin started by hand, then connects to it.
   * Closing the scope calls `Shutdown` and closes the connection; it signals nothing.
   */
  static readonly attach = (
    config: ChainVmAttachConfig
  ): Effect.Effect<{ readonly client: ChainVmClient; readonly vm: VmInstance }, AttachError, VmRuntime | Scope.Scope> =>
    attach(config)

  /** {@link ChainVm.launch} as a layer, without the {@link VmRuntime}. */
  static readonly layerNoDeps = (
    config: ChainVmConfig
  ): Layer.Layer<ChainVm | CurrentVm, LaunchError, VmRuntime> =>
    Layer.effectContext(
      Effect.map(launch(config), ({ client, vm }) => Context.make(ChainVm, client).pipe(Context.add(CurrentVm, vm)))
    )

  /** Launches the plugin at `config.path` with the default {@link VmRuntime} and provides its client. */
  static readonly layer = (
    config: ChainVmConfig
  ): Layer.Layer<ChainVm | CurrentVm, LaunchError | Config.ConfigError> =>
    ChainVm.layerNoDeps(config).pipe(Layer.provide(VmRuntime.layer))

  /**
   * A client of an in-process `vm.VM` implementation, without a subprocess or a socket:
   * requests and answers still go through protobuf encoding. Unimplemented methods answer
   * `Unimplemented` (a `VmCallFailed`).
   */
  static readonly layerTest = (
    implementation: Partial<ServiceImpl<typeof pb.VM>> | ((router: ConnectRouter) => void),
    options: ClientOptions = {}
  ): Layer.Layer<ChainVm> =>
    Layer.sync(ChainVm, () =>
      ChainVm.fromTransport(
        createRouterTransport(
          typeof implementation === "function" ? implementation : (router) => router.service(pb.VM, implementation)
        ),
        options
      ))
}
