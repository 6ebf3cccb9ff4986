/**
 * The host's typed client of a VM plugin's `vm.VM` service (rpcchainvm ChainVM).
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
 * - {@link ChainVm.layer}: launch a plugin with the {@link Runtime} and provide the client
 *   (and the {@link ChainVmInstance}); closing the scope runs the upstream stop sequence.
 * - {@link ChainVm.make}: a client for a VM already listening at an address.
 * - {@link ChainVm.layerTest}: a client of an in-process `vm.VM` implementation, for tests.
 */
import { create, isFieldSet } from "@bufbuild/protobuf"
import { type Duration as PbDuration, DurationSchema, type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt"
import {
  type CallOptions,
  type Client,
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type ServiceImpl,
  type Transport
} from "@connectrpc/connect"
import {
  type MetricFamily as PbMetricFamily,
  MetricSchema,
  MetricType as PbMetricType
} from "@vmre/proto/io/prometheus/client/metrics_pb"
import * as pb from "@vmre/proto/vm/vm_pb"
import { GrpcClient } from "@vmre/transport"
import { type Config, Context, DateTime, Duration, Effect, Layer, Option, Schema, type Scope } from "effect"
import {
  Closed,
  InvalidRequest,
  InvalidResponse,
  type LaunchError,
  NotFound,
  type ProcessExit,
  StateSyncNotImplemented,
  VmCallFailed,
  type VmCallError,
  type VmKnownError,
  VmProcessExited,
  VmUnavailable
} from "./Errors.ts"
import { Id, NodeId, toHex } from "./Ids.ts"
import { type LaunchConfig, Runtime, type VmInstance } from "./Runtime.ts"

// ---------------------------------------------------------------------------------------
// Values of the API
// ---------------------------------------------------------------------------------------

/** The RPCs of `vm.VM`, by their wire names. */
export type RpcName =
  | "Initialize"
  | "SetState"
  | "Shutdown"
  | "CreateHandlers"
  | "NewHTTPHandler"
  | "WaitForEvent"
  | "Connected"
  | "Disconnected"
  | "BuildBlock"
  | "ParseBlock"
  | "GetBlock"
  | "SetPreference"
  | "Health"
  | "Version"
  | "AppRequest"
  | "AppRequestFailed"
  | "AppResponse"
  | "AppGossip"
  | "CrossChainAppRequest"
  | "CrossChainAppRequestFailed"
  | "CrossChainAppResponse"
  | "Gather"
  | "GetAncestors"
  | "BatchedParseBlock"
  | "GetBlockIDAtHeight"
  | "StateSyncEnabled"
  | "GetOngoingSyncStateSummary"
  | "GetLastStateSummary"
  | "ParseStateSummary"
  | "GetStateSummary"
  | "BlockVerify"
  | "BlockAccept"
  | "BlockReject"
  | "StateSummaryAccept"

/** The engine phase the node moves the VM into (`SetState`). */
export type VmState = "state-syncing" | "bootstrapping" | "normal-op"

/** luxd's block status; avalanchego VMs leave it `"unspecified"`. */
export type BlockStatus = "unspecified" | "processing" | "rejected" | "accepted"

/** What `WaitForEvent` reports (avalanchego). */
export type VmEvent = "build-block" | "state-sync-finished"

/** How the VM syncs to an accepted state summary. */
export type StateSyncMode = "skipped" | "static" | "dynamic"

/**
 * A block as the VM describes it. `ParseBlock` fills `bytes` with the bytes parsed and
 * `GetBlock` fills `id` with the id asked for, as upstream's client does.
 */
export interface Block {
  readonly id: Id
  readonly parentId: Id
  readonly bytes: Uint8Array
  readonly height: bigint
  readonly timestamp: DateTime.Utc
  /** The VM wants `BlockVerify` with the P-chain height as context. */
  readonly verifyWithContext: boolean
  readonly status: BlockStatus
}

/** The last accepted block, as `Initialize` and `SetState` report it. */
export interface LastAccepted {
  readonly id: Id
  readonly parentId: Id
  readonly height: bigint
  readonly bytes: Uint8Array
  readonly timestamp: DateTime.Utc
}

/** avalanchego's network upgrade schedule (`InitializeRequest.network_upgrades`). */
export interface NetworkUpgrades {
  readonly apricotPhase1Time: DateTime.DateTime
  readonly apricotPhase2Time: DateTime.DateTime
  readonly apricotPhase3Time: DateTime.DateTime
  readonly apricotPhase4Time: DateTime.DateTime
  readonly apricotPhase4MinPChainHeight: bigint
  readonly apricotPhase5Time: DateTime.DateTime
  readonly apricotPhasePre6Time: DateTime.DateTime
  readonly apricotPhase6Time: DateTime.DateTime
  readonly apricotPhasePost6Time: DateTime.DateTime
  readonly banffTime: DateTime.DateTime
  readonly cortinaTime: DateTime.DateTime
  readonly cortinaXChainStopVertexId: Id
  readonly durangoTime: DateTime.DateTime
  readonly etnaTime: DateTime.DateTime
  readonly fortunaTime: DateTime.DateTime
  readonly graniteTime: DateTime.DateTime
  readonly graniteEpochDuration: Duration.Duration
  readonly heliconTime: DateTime.DateTime
}

/** The arguments of `Initialize`. */
export interface InitializeParams {
  readonly networkId: number
  readonly subnetId: Id
  readonly chainId: Id
  readonly nodeId: NodeId
  /** Compressed BLS public key of the node's warp signer. */
  readonly publicKey: Uint8Array
  readonly xChainId: Id
  readonly cChainId: Id
  /** luxd calls it the LUX asset id. */
  readonly avaxAssetId: Id
  readonly chainDataDir: string
  readonly genesisBytes: Uint8Array
  readonly upgradeBytes: Uint8Array
  readonly configBytes: Uint8Array
  /** `host:port` of the node's rpcdb.Database server. */
  readonly dbServerAddr: string
  /** `host:port` of the node's callback server. */
  readonly serverAddr: string
  /** avalanchego only; luxd sends none. */
  readonly networkUpgrades?: NetworkUpgrades | undefined
}

/** An HTTP handler served by the VM (`CreateHandlers`). */
export interface HttpHandler {
  readonly prefix: string
  readonly serverAddr: string
}

/** A peer's client name and version (`Connected`). */
export interface PeerVersion {
  readonly name: string
  readonly major: number
  readonly minor: number
  readonly patch: number
}

export interface AppRequest {
  readonly nodeId: NodeId
  readonly requestId: number
  readonly deadline: DateTime.DateTime
  readonly request: Uint8Array
}

export interface AppRequestFailed {
  readonly nodeId: NodeId
  readonly requestId: number
  readonly errorCode: number
  readonly errorMessage: string
}

export interface AppResponse {
  readonly nodeId: NodeId
  readonly requestId: number
  readonly response: Uint8Array
}

export interface AppGossip {
  readonly nodeId: NodeId
  readonly msg: Uint8Array
}

/** luxd only. */
export interface CrossChainAppRequest {
  readonly chainId: Id
  readonly requestId: number
  readonly deadline: DateTime.DateTime
  readonly request: Uint8Array
}

/** luxd only. */
export interface CrossChainAppRequestFailed {
  readonly chainId: Id
  readonly requestId: number
  readonly errorCode: number
  readonly errorMessage: string
}

/** luxd only. */
export interface CrossChainAppResponse {
  readonly chainId: Id
  readonly requestId: number
  readonly response: Uint8Array
}

export interface GetAncestorsParams {
  readonly blkId: Id
  readonly maxBlocksNum: number
  readonly maxBlocksSize: number
  /** Sent as int64 nanoseconds (`max_blocks_retrival_time`). */
  readonly maxBlocksRetrievalTime: Duration.Duration
}

/** A state summary; `ParseStateSummary` fills `bytes`, `GetStateSummary` fills `height`. */
export interface StateSummary {
  readonly id: Id
  readonly height: bigint
  readonly bytes: Uint8Array
}

/** With `pChainHeight`, the VM builds (or verifies) with the P-chain height as context. */
export interface BlockContextOptions {
  readonly pChainHeight?: bigint | undefined
}

export type MetricType = "counter" | "gauge" | "summary" | "untyped" | "histogram" | "gauge-histogram"

/** A Prometheus metric family from `Gather`; `gatherRaw` has the complete model. */
export interface MetricFamily {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  readonly unit: string | undefined
  readonly metrics: ReadonlyArray<Metric>
}

/** One sample set: `value` for counters, gauges and untyped metrics. */
export interface Metric {
  readonly labels: Readonly<Record<string, string>>
  readonly timestampMs: bigint | undefined
  readonly value: number | undefined
  readonly summary:
    | {
      readonly sampleCount: number
      readonly sampleSum: number
      readonly quantiles: ReadonlyArray<{ readonly quantile: number; readonly value: number }>
    }
    | undefined
  /** The classic buckets; native (exponential) buckets are in `gatherRaw` only. */
  readonly histogram:
    | {
      readonly sampleCount: number
      readonly sampleSum: number
      readonly buckets: ReadonlyArray<{ readonly upperBound: number; readonly cumulativeCount: number }>
    }
    | undefined
}

// ---------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------

type Call<A, E = never> = Effect.Effect<A, VmCallError | E>

/** The typed client of a plugin's `vm.VM` service. */
export interface ChainVmClient {
  readonly initialize: (params: InitializeParams) => Call<LastAccepted>
  readonly setState: (state: VmState) => Call<LastAccepted>
  readonly shutdown: () => Call<void>
  readonly createHandlers: () => Call<ReadonlyArray<HttpHandler>>
  /** avalanchego: the address of the VM's header-routed HTTP handler, if it has one. */
  readonly newHttpHandler: () => Call<Option.Option<string>>
  /** avalanchego: a long poll; no timeout by default (interrupt it to cancel). */
  readonly waitForEvent: () => Call<VmEvent>
  readonly connected: (nodeId: NodeId, version: PeerVersion) => Call<void>
  readonly disconnected: (nodeId: NodeId) => Call<void>
  readonly buildBlock: (options?: BlockContextOptions) => Call<Block>
  readonly parseBlock: (bytes: Uint8Array) => Call<Block>
  readonly getBlock: (id: Id) => Call<Block, VmKnownError>
  readonly setPreference: (id: Id) => Call<void>
  /** The VM's health details (its JSON document, parsed); fails fast if the VM is not reachable. */
  readonly health: () => Call<unknown>
  readonly version: () => Call<string>
  readonly appRequest: (request: AppRequest) => Call<void>
  readonly appRequestFailed: (failure: AppRequestFailed) => Call<void>
  readonly appResponse: (response: AppResponse) => Call<void>
  readonly appGossip: (gossip: AppGossip) => Call<void>
  readonly crossChainAppRequest: (request: CrossChainAppRequest) => Call<void>
  readonly crossChainAppRequestFailed: (failure: CrossChainAppRequestFailed) => Call<void>
  readonly crossChainAppResponse: (response: CrossChainAppResponse) => Call<void>
  readonly gather: () => Call<ReadonlyArray<MetricFamily>>
  /** Raw escape hatch: the protobuf `MetricFamily` messages as received. */
  readonly gatherRaw: () => Call<ReadonlyArray<PbMetricFamily>>
  readonly getAncestors: (params: GetAncestorsParams) => Call<ReadonlyArray<Uint8Array>>
  /** One block per entry of `blocks`, in order. */
  readonly batchedParseBlock: (blocks: ReadonlyArray<Uint8Array>) => Call<ReadonlyArray<Block>>
  readonly getBlockIdAtHeight: (height: bigint) => Call<Id, VmKnownError>
  /** As upstream, `ERROR_STATE_SYNC_NOT_IMPLEMENTED` reads as `false`. */
  readonly stateSyncEnabled: () => Call<boolean, VmKnownError>
  readonly getOngoingSyncStateSummary: () => Call<StateSummary, VmKnownError>
  readonly getLastStateSummary: () => Call<StateSummary, VmKnownError>
  readonly parseStateSummary: (bytes: Uint8Array) => Call<StateSummary, VmKnownError>
  readonly getStateSummary: (height: bigint) => Call<StateSummary, VmKnownError>
  /** Verifies the block (the VM parses `bytes` again); answers the block's timestamp. */
  readonly blockVerify: (bytes: Uint8Array, options?: BlockContextOptions) => Call<DateTime.Utc>
  readonly blockAccept: (id: Id) => Call<void>
  readonly blockReject: (id: Id) => Call<void>
  readonly stateSummaryAccept: (bytes: Uint8Array) => Call<StateSyncMode, VmKnownError>
}

/** The launched plugin behind {@link ChainVm.layer}. */
export class ChainVmInstance extends Context.Service<ChainVmInstance, VmInstance>()("@vmre/runtime/ChainVmInstance") {}

/** What the client needs of a plugin process: to notice its death and tell why. */
export type VmProcessView = Pick<VmInstance, "pid" | "exit" | "exitStatus" | "stderrTail" | "drained">

export type KeepaliveOptions = GrpcClient.KeepaliveOptions

export interface ClientOptions {
  /** Bound on every call without its own entry in `timeouts` (default 30 s). */
  readonly callTimeout?: Duration.Input | undefined
  /**
   * Per-RPC bounds; `"Infinity"` for none. Defaults: Initialize and SetState 5 minutes,
   * Shutdown 5 s, WaitForEvent none (a long poll), everything else `callTimeout`.
   */
  readonly timeouts?: Partial<Record<RpcName, Duration.Input>> | undefined
  readonly keepalive?: KeepaliveOptions | undefined
  /** Bound on one attempt to open the connection (default 5 s); calls retry until their timeout. */
  readonly connectTimeout?: Duration.Input | undefined
  /**
   * After a call lost its connection, how long to wait for the process to be seen exiting
   * so that the call reports `VmProcessExited` rather than `VmUnavailable` (default 250 ms).
   */
  readonly exitGrace?: Duration.Input | undefined
}

export interface ConnectOptions extends ClientOptions {
  /** `127.0.0.1:PORT` of the VM's gRPC server. */
  readonly address: string
  /** The plugin process serving it: calls race its exit. */
  readonly process?: VmProcessView | undefined
}

export interface ChainVmConfig extends LaunchConfig, ClientOptions {
  /** Bound on the `Shutdown` call of the stop sequence (default 5 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
}

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
  ): Effect.Effect<{ readonly client: ChainVmClient; readonly vm: VmInstance }, LaunchError, Runtime | Scope.Scope> =>
    launch(config)

  /** {@link ChainVm.launch} as a layer, without the {@link Runtime}. */
  static readonly layerNoDeps = (
    config: ChainVmConfig
  ): Layer.Layer<ChainVm | ChainVmInstance, LaunchError, Runtime> =>
    Layer.effectContext(
      Effect.map(launch(config), ({ client, vm }) => Context.make(ChainVm, client).pipe(Context.add(ChainVmInstance, vm)))
    )

  /** Launches the plugin at `config.path` with the default {@link Runtime} and provides its client. */
  static readonly layer = (
    config: ChainVmConfig
  ): Layer.Layer<ChainVm | ChainVmInstance, LaunchError | Config.ConfigError> =>
    ChainVm.layerNoDeps(config).pipe(Layer.provide(Runtime.layer))

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

// ---------------------------------------------------------------------------------------
// Connection and calls
// ---------------------------------------------------------------------------------------

const DEFAULT_CALL_TIMEOUT = Duration.seconds(30)
const DEFAULT_TIMEOUTS: Partial<Record<RpcName, Duration.Duration>> = {
  Initialize: Duration.minutes(5),
  SetState: Duration.minutes(5),
  Shutdown: Duration.seconds(5),
  WaitForEvent: Duration.infinity
}
const DEFAULT_SHUTDOWN_TIMEOUT = Duration.seconds(5)

const make = Effect.fnUntraced(function*(options: ConnectOptions) {
  const conn = yield* GrpcClient.transport(options.address, {
    keepalive: options.keepalive,
    connectTimeout: options.connectTimeout
  })
  // gRPC "wait for ready": (re)connect with a backoff until the connection is up; the
  // call's timeout and the process's exit bound the wait.
  const ready = Effect.gen(function*() {
    // The common case, a live connection, costs no promise.
    const state = conn.sessionManager.state()
    if (state === "open" || state === "idle") return
    let delay = 10
    while ((yield* Effect.promise(() => conn.sessionManager.connect())) === "error") {
      yield* Effect.sleep(Duration.millis(delay))
      delay = Math.min(delay * 2, 1_000)
    }
  })
  return makeClient({
    transport: conn.transport,
    options,
    ready,
    process: options.process,
    isClosed: conn.isClosed
  })
})

const launch = Effect.fnUntraced(function*(config: ChainVmConfig) {
  const runtime = yield* Runtime
  // The process's scope is a child of this scope, forked now: everything added below is
  // finalized before it (last in, first out), so the order on close is Shutdown, close
  // the connection, then SIGTERM, grace, SIGKILL.
  const vm = yield* runtime.launch(config)
  const client = yield* make({ ...config, address: vm.vmAddr, process: vm })
  const shutdownTimeout = config.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT
  yield* Effect.addFinalizer(() =>
    stopSequence(client, vm, Duration.fromInputUnsafe(shutdownTimeout)).pipe(
      Effect.annotateLogs({ vm: vm.name, pid: vm.pid })
    )
  )
  return { client, vm }
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
  }).pipe(Effect.catchCause((cause) => Effect.logWarning(`stopping ${vm.name}: Shutdown call failed`, cause)))

interface ClientParts {
  readonly transport: Transport
  readonly options: ClientOptions
  /** Waits until the connection is up (absent: no waiting). */
  readonly ready: Effect.Effect<void> | undefined
  readonly process: VmProcessView | undefined
  readonly isClosed: () => boolean
}

/** A request field that cannot be encoded; thrown inside `encode`. */
class Unencodable {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}
/** A response field that breaks the protocol; thrown inside `decode`. */
class Malformed {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const codeName = (code: Code): string => Code[code] ?? `Code(${code})`

/** Sorts a failed call: an answer of the VM (`VmCallFailed`) or no answer (`VmUnavailable`). */
const classify = (method: RpcName, error: unknown): VmUnavailable | VmCallFailed => {
  const connectError = ConnectError.from(error)
  const code = codeName(connectError.code)
  const reason = connectError.rawMessage
  // Only an error status sent by the VM is the VM's own error; anything raised on this side
  // (connection refused or reset, stream aborted, deadline) means there was no answer.
  // Unimplemented is an answer too, also when it comes as HTTP 404 (as Connect servers send it for
  // a method they do not serve) rather than as a gRPC status.
  const answered = (connectError.isWireError &&
    connectError.code !== Code.Unavailable &&
    connectError.code !== Code.DeadlineExceeded) || connectError.code === Code.Unimplemented
  return answered ? new VmCallFailed({ method, code, reason }) : new VmUnavailable({ method, code, reason })
}

const makeClient = (parts: ClientParts): ChainVmClient => {
  const { process } = parts
  const raw: Client<typeof pb.VM> = createClient(pb.VM, parts.transport)
  const defaultTimeout = parts.options.callTimeout === undefined ?
    DEFAULT_CALL_TIMEOUT :
    Duration.fromInputUnsafe(parts.options.callTimeout)
  const timeoutOf = (method: RpcName): Duration.Duration => {
    const configured = parts.options.timeouts?.[method]
    return configured !== undefined ?
      Duration.fromInputUnsafe(configured) :
      DEFAULT_TIMEOUTS[method] ?? defaultTimeout
  }
  const exitGrace = parts.options.exitGrace === undefined ?
    Duration.millis(250) :
    Duration.fromInputUnsafe(parts.options.exitGrace)

  const exited = (method: RpcName, view: VmProcessView, exit: ProcessExit) =>
    Effect.gen(function*() {
      // The last stderr lines are still in the pipe: read it to its end first (bounded).
      yield* view.drained(Duration.millis(500))
      return yield* new VmProcessExited({
        method,
        pid: view.pid,
        exitCode: exit.code,
        signal: exit.signal,
        stderrTail: yield* view.stderrTail
      })
    })

  /** One call: readiness, timeout, error sorting, and the race against the process's exit. */
  const invoke = <A>(
    method: RpcName,
    send: (options: CallOptions) => Promise<A>,
    waitForReady = true
  ): Effect.Effect<A, VmCallError> =>
    Effect.suspend((): Effect.Effect<A, VmCallError> => {
      if (parts.isClosed()) {
        return Effect.fail(new VmUnavailable({ method, code: "Canceled", reason: "the client is closed" }))
      }
      const timeout = timeoutOf(method)
      const bounded = Duration.isFinite(timeout)
      const deadline = bounded ? Date.now() + Duration.toMillis(timeout) : undefined
      const deadlineExceeded = () =>
        Effect.fail(
          new VmUnavailable({ method, code: "DeadlineExceeded", reason: `no answer within ${Duration.format(timeout)}` })
        )
      // The wait for a connection counts against the call's timeout; the call itself is bounded
      // by Connect's own deadline (timeoutMs), which also tells the VM (grpc-timeout).
      const waited = waitForReady && parts.ready !== undefined ?
        (bounded ? parts.ready.pipe(Effect.timeoutOrElse({ duration: timeout, orElse: deadlineExceeded })) : parts.ready) :
        Effect.void
      const timed: Effect.Effect<A, VmUnavailable | VmCallFailed> = Effect.andThen(
        waited,
        Effect.tryPromise({
          try: (signal) =>
            send(deadline === undefined ? { signal } : { signal, timeoutMs: Math.max(1, deadline - Date.now()) }),
          catch: (error) => classify(method, error)
        })
      )
      if (process === undefined) return timed
      return Effect.gen(function*() {
        const status = yield* process.exitStatus
        if (Option.isSome(status)) return yield* exited(method, process, status.value)
        const guarded = timed.pipe(
          // A lost connection is usually the process dying: say so if it is.
          Effect.catchTag("VmUnavailable", (error): Effect.Effect<never, VmUnavailable | VmProcessExited> =>
            Effect.flatMap(
              Effect.timeoutOption(process.exit, exitGrace),
              (exit): Effect.Effect<never, VmUnavailable | VmProcessExited> =>
                Option.isSome(exit) ? exited(method, process, exit.value) : Effect.fail(error)
            ))
        )
        return yield* Effect.raceFirst(
          guarded,
          Effect.flatMap(process.exit, (exit) => exited(method, process, exit))
        )
      })
    })

  const encode = <A>(method: RpcName, build: () => A): Effect.Effect<A, InvalidRequest> =>
    Effect.suspend(() => {
      try {
        return Effect.succeed(build())
      } catch (error) {
        if (error instanceof Unencodable) return Effect.fail(new InvalidRequest({ method, reason: error.reason }))
        throw error
      }
    })
  const decode = <A>(method: RpcName, read: () => A): Effect.Effect<A, InvalidResponse> =>
    Effect.suspend(() => {
      try {
        return Effect.succeed(read())
      } catch (error) {
        if (error instanceof Malformed) return Effect.fail(new InvalidResponse({ method, reason: error.reason }))
        throw error
      }
    })
  /** Maps the `err` field of an answer; `ERROR_UNSPECIFIED` is no error. */
  const known = (method: RpcName, err: pb.Error, subject = ""): Effect.Effect<void, VmKnownError | InvalidResponse> => {
    switch (err) {
      case pb.Error.UNSPECIFIED:
        return Effect.void
      case pb.Error.NOT_FOUND:
        return Effect.fail(new NotFound({ method, subject }))
      case pb.Error.CLOSED:
        return Effect.fail(new Closed({ method }))
      case pb.Error.STATE_SYNC_NOT_IMPLEMENTED:
        return Effect.fail(new StateSyncNotImplemented({ method }))
      default:
        return Effect.fail(new InvalidResponse({ method, reason: `unknown err value ${err}` }))
    }
  }

  const toBlock = (
    r: {
      readonly parentId: Uint8Array
      readonly height: bigint
      readonly timestamp?: Timestamp | undefined
      readonly verifyWithContext: boolean
      readonly status?: pb.Status
    },
    id: Uint8Array,
    bytes: Uint8Array
  ): Block => ({
    id: readId("id", id),
    parentId: readId("parent_id", r.parentId),
    bytes,
    height: r.height,
    timestamp: readTimestamp("timestamp", r.timestamp),
    verifyWithContext: r.verifyWithContext,
    status: readStatus(r.status ?? pb.Status.UNSPECIFIED)
  })
  const toLastAccepted = (r: pb.InitializeResponse | pb.SetStateResponse): LastAccepted => ({
    id: readId("last_accepted_id", r.lastAcceptedId),
    parentId: readId("last_accepted_parent_id", r.lastAcceptedParentId),
    height: r.height,
    bytes: r.bytes,
    timestamp: readTimestamp("timestamp", r.timestamp)
  })

  const initialize = Effect.fnUntraced(function*(params: InitializeParams) {
    const request = yield* encode("Initialize", () =>
      create(pb.InitializeRequestSchema, {
        networkId: uint32("network_id", params.networkId),
        subnetId: sendId("subnet_id", params.subnetId),
        chainId: sendId("chain_id", params.chainId),
        nodeId: sendNodeId("node_id", params.nodeId),
        publicKey: bytes("public_key", params.publicKey),
        xChainId: sendId("x_chain_id", params.xChainId),
        cChainId: sendId("c_chain_id", params.cChainId),
        avaxAssetId: sendId("avax_asset_id", params.avaxAssetId),
        chainDataDir: params.chainDataDir,
        genesisBytes: bytes("genesis_bytes", params.genesisBytes),
        upgradeBytes: bytes("upgrade_bytes", params.upgradeBytes),
        configBytes: bytes("config_bytes", params.configBytes),
        dbServerAddr: params.dbServerAddr,
        serverAddr: params.serverAddr,
        ...(params.networkUpgrades === undefined ? {} : { networkUpgrades: sendUpgrades(params.networkUpgrades) })
      }))
    const response = yield* invoke("Initialize", (o) => raw.initialize(request, o))
    return yield* decode("Initialize", () => toLastAccepted(response))
  })

  const setState = Effect.fnUntraced(function*(state: VmState) {
    const wire = yield* encode("SetState", () => sendState(state))
    const response = yield* invoke("SetState", (o) => raw.setState({ state: wire }, o))
    return yield* decode("SetState", () => toLastAccepted(response))
  })

  const shutdown = Effect.fnUntraced(function*() {
    yield* invoke("Shutdown", (o) => raw.shutdown({}, o))
  })

  const createHandlers = Effect.fnUntraced(function*() {
    const response = yield* invoke("CreateHandlers", (o) => raw.createHandlers({}, o))
    return response.handlers.map((h): HttpHandler => ({ prefix: h.prefix, serverAddr: h.serverAddr }))
  })

  const newHttpHandler = Effect.fnUntraced(function*() {
    const response = yield* invoke("NewHTTPHandler", (o) => raw.newHTTPHandler({}, o))
    return response.serverAddr === "" ? Option.none<string>() : Option.some(response.serverAddr)
  })

  const waitForEvent = Effect.fnUntraced(function*() {
    const response = yield* invoke("WaitForEvent", (o) => raw.waitForEvent({}, o))
    return yield* decode("WaitForEvent", (): VmEvent => {
      switch (response.message) {
        case pb.Message.BUILD_BLOCK:
          return "build-block"
        case pb.Message.STATE_SYNC_FINISHED:
          return "state-sync-finished"
        default:
          throw new Malformed(`unknown message value ${response.message}`)
      }
    })
  })

  const connected = Effect.fnUntraced(function*(nodeId: NodeId, version: PeerVersion) {
    const request = yield* encode("Connected", () =>
      create(pb.ConnectedRequestSchema, {
        nodeId: sendNodeId("node_id", nodeId),
        name: version.name,
        major: uint32("major", version.major),
        minor: uint32("minor", version.minor),
        patch: uint32("patch", version.patch)
      }))
    yield* invoke("Connected", (o) => raw.connected(request, o))
  })

  const disconnected = Effect.fnUntraced(function*(nodeId: NodeId) {
    const request = yield* encode("Disconnected", () => ({ nodeId: sendNodeId("node_id", nodeId) }))
    yield* invoke("Disconnected", (o) => raw.disconnected(request, o))
  })

  const buildBlock = Effect.fnUntraced(function*(options: BlockContextOptions = {}) {
    const request = yield* encode("BuildBlock", () =>
      options.pChainHeight === undefined ? {} : { pChainHeight: uint64("p_chain_height", options.pChainHeight) })
    const response = yield* invoke("BuildBlock", (o) => raw.buildBlock(request, o))
    return yield* decode("BuildBlock", () => toBlock(response, response.id, response.bytes))
  })

  const parseBlock = Effect.fnUntraced(function*(blockBytes: Uint8Array) {
    const request = yield* encode("ParseBlock", () => ({ bytes: bytes("bytes", blockBytes) }))
    const response = yield* invoke("ParseBlock", (o) => raw.parseBlock(request, o))
    return yield* decode("ParseBlock", () => toBlock(response, response.id, blockBytes))
  })

  const getBlock = Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("GetBlock", () => ({ id: sendId("id", id) }))
    const response = yield* invoke("GetBlock", (o) => raw.getBlock(request, o))
    yield* known("GetBlock", response.err, `block ${toHex(id)}`)
    return yield* decode("GetBlock", () => toBlock(response, id, response.bytes))
  })

  const setPreference = Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("SetPreference", () => ({ id: sendId("id", id) }))
    yield* invoke("SetPreference", (o) => raw.setPreference(request, o))
  })

  const health = Effect.fnUntraced(function*() {
    const response = yield* invoke("Health", (o) => raw.health({}, o), false)
    return yield* decode("Health", (): unknown => {
      if (response.details.length === 0) return null
      try {
        return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(response.details))
      } catch (error) {
        throw new Malformed(`details are not JSON: ${error instanceof Error ? error.message : String(error)}`)
      }
    })
  })

  const version = Effect.fnUntraced(function*() {
    const response = yield* invoke("Version", (o) => raw.version({}, o))
    return response.version
  })

  const appRequest = Effect.fnUntraced(function*(message: AppRequest) {
    const request = yield* encode("AppRequest", () =>
      create(pb.AppRequestMsgSchema, {
        nodeId: sendNodeId("node_id", message.nodeId),
        requestId: uint32("request_id", message.requestId),
        deadline: sendTimestamp("deadline", message.deadline),
        request: bytes("request", message.request)
      }))
    yield* invoke("AppRequest", (o) => raw.appRequest(request, o))
  })

  const appRequestFailed = Effect.fnUntraced(function*(message: AppRequestFailed) {
    const request = yield* encode("AppRequestFailed", () => ({
      nodeId: sendNodeId("node_id", message.nodeId),
      requestId: uint32("request_id", message.requestId),
      errorCode: int32("error_code", message.errorCode),
      errorMessage: message.errorMessage
    }))
    yield* invoke("AppRequestFailed", (o) => raw.appRequestFailed(request, o))
  })

  const appResponse = Effect.fnUntraced(function*(message: AppResponse) {
    const request = yield* encode("AppResponse", () => ({
      nodeId: sendNodeId("node_id", message.nodeId),
      requestId: uint32("request_id", message.requestId),
      response: bytes("response", message.response)
    }))
    yield* invoke("AppResponse", (o) => raw.appResponse(request, o))
  })

  const appGossip = Effect.fnUntraced(function*(message: AppGossip) {
    const request = yield* encode("AppGossip", () => ({
      nodeId: sendNodeId("node_id", message.nodeId),
      msg: bytes("msg", message.msg)
    }))
    yield* invoke("AppGossip", (o) => raw.appGossip(request, o))
  })

  const crossChainAppRequest = Effect.fnUntraced(function*(message: CrossChainAppRequest) {
    const request = yield* encode("CrossChainAppRequest", () =>
      create(pb.CrossChainAppRequestMsgSchema, {
        chainId: sendId("chain_id", message.chainId),
        requestId: uint32("request_id", message.requestId),
        deadline: sendTimestamp("deadline", message.deadline),
        request: bytes("request", message.request)
      }))
    yield* invoke("CrossChainAppRequest", (o) => raw.crossChainAppRequest(request, o))
  })

  const crossChainAppRequestFailed = Effect.fnUntraced(function*(
    message: CrossChainAppRequestFailed
  ) {
    const request = yield* encode("CrossChainAppRequestFailed", () => ({
      chainId: sendId("chain_id", message.chainId),
      requestId: uint32("request_id", message.requestId),
      errorCode: int32("error_code", message.errorCode),
      errorMessage: message.errorMessage
    }))
    yield* invoke("CrossChainAppRequestFailed", (o) => raw.crossChainAppRequestFailed(request, o))
  })

  const crossChainAppResponse = Effect.fnUntraced(function*(message: CrossChainAppResponse) {
    const request = yield* encode("CrossChainAppResponse", () => ({
      chainId: sendId("chain_id", message.chainId),
      requestId: uint32("request_id", message.requestId),
      response: bytes("response", message.response)
    }))
    yield* invoke("CrossChainAppResponse", (o) => raw.crossChainAppResponse(request, o))
  })

  const gatherRaw = Effect.fnUntraced(function*() {
    const response = yield* invoke("Gather", (o) => raw.gather({}, o))
    return response.metricFamilies
  })

  const gather = Effect.fnUntraced(function*() {
    const families = yield* gatherRaw()
    return yield* decode("Gather", () => families.map(toMetricFamily))
  })

  const getAncestors = Effect.fnUntraced(function*(params: GetAncestorsParams) {
    const request = yield* encode("GetAncestors", () => ({
      blkId: sendId("blk_id", params.blkId),
      maxBlocksNum: int32("max_blocks_num", params.maxBlocksNum),
      maxBlocksSize: int32("max_blocks_size", params.maxBlocksSize),
      maxBlocksRetrivalTime: int64Nanos("max_blocks_retrival_time", params.maxBlocksRetrievalTime)
    }))
    const response = yield* invoke("GetAncestors", (o) => raw.getAncestors(request, o))
    return response.blksBytes
  })

  const batchedParseBlock = Effect.fnUntraced(function*(blocks: ReadonlyArray<Uint8Array>) {
    const request = yield* encode("BatchedParseBlock", () => ({
      request: blocks.map((b, i) => bytes(`request[${i}]`, b))
    }))
    const response = yield* invoke("BatchedParseBlock", (o) => raw.batchedParseBlock(request, o))
    return yield* decode("BatchedParseBlock", () => {
      if (response.response.length !== blocks.length) {
        throw new Malformed(`${response.response.length} blocks for ${blocks.length} requested`)
      }
      return response.response.map((r, i) => toBlock(r, r.id, blocks[i]!))
    })
  })

  const getBlockIdAtHeight = Effect.fnUntraced(function*(height: bigint) {
    const request = yield* encode("GetBlockIDAtHeight", () => ({ height: uint64("height", height) }))
    const response = yield* invoke("GetBlockIDAtHeight", (o) => raw.getBlockIDAtHeight(request, o))
    yield* known("GetBlockIDAtHeight", response.err, `block at height ${height}`)
    return yield* decode("GetBlockIDAtHeight", () => readId("blk_id", response.blkId))
  })

  const stateSyncEnabled = Effect.fnUntraced(function*() {
    const response = yield* invoke("StateSyncEnabled", (o) => raw.stateSyncEnabled({}, o))
    if (response.err === pb.Error.STATE_SYNC_NOT_IMPLEMENTED) return false
    yield* known("StateSyncEnabled", response.err)
    return response.enabled
  })

  const summary = (method: RpcName, r: pb.GetOngoingSyncStateSummaryResponse | pb.GetLastStateSummaryResponse) =>
    known(method, r.err, "state summary").pipe(
      Effect.andThen(decode(method, (): StateSummary => ({ id: readId("id", r.id), height: r.height, bytes: r.bytes })))
    )

  const getOngoingSyncStateSummary = Effect.fnUntraced(function*() {
    const response = yield* invoke("GetOngoingSyncStateSummary", (o) => raw.getOngoingSyncStateSummary({}, o))
    return yield* summary("GetOngoingSyncStateSummary", response)
  })

  const getLastStateSummary = Effect.fnUntraced(function*() {
    const response = yield* invoke("GetLastStateSummary", (o) => raw.getLastStateSummary({}, o))
    return yield* summary("GetLastStateSummary", response)
  })

  const parseStateSummary = Effect.fnUntraced(function*(summaryBytes: Uint8Array) {
    const request = yield* encode("ParseStateSummary", () => ({ bytes: bytes("bytes", summaryBytes) }))
    const response = yield* invoke("ParseStateSummary", (o) => raw.parseStateSummary(request, o))
    yield* known("ParseStateSummary", response.err, "state summary")
    return yield* decode("ParseStateSummary", (): StateSummary => ({
      id: readId("id", response.id),
      height: response.height,
      bytes: summaryBytes
    }))
  })

  const getStateSummary = Effect.fnUntraced(function*(height: bigint) {
    const request = yield* encode("GetStateSummary", () => ({ height: uint64("height", height) }))
    const response = yield* invoke("GetStateSummary", (o) => raw.getStateSummary(request, o))
    yield* known("GetStateSummary", response.err, `state summary at height ${height}`)
    return yield* decode("GetStateSummary", (): StateSummary => ({
      id: readId("id", response.id),
      height,
      bytes: response.bytes
    }))
  })

  const blockVerify = Effect.fnUntraced(function*(
    blockBytes: Uint8Array,
    options: BlockContextOptions = {}
  ) {
    const request = yield* encode("BlockVerify", () => ({
      bytes: bytes("bytes", blockBytes),
      ...(options.pChainHeight === undefined ? {} : { pChainHeight: uint64("p_chain_height", options.pChainHeight) })
    }))
    const response = yield* invoke("BlockVerify", (o) => raw.blockVerify(request, o))
    return yield* decode("BlockVerify", () => readTimestamp("timestamp", response.timestamp))
  })

  const blockAccept = Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("BlockAccept", () => ({ id: sendId("id", id) }))
    yield* invoke("BlockAccept", (o) => raw.blockAccept(request, o))
  })

  const blockReject = Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("BlockReject", () => ({ id: sendId("id", id) }))
    yield* invoke("BlockReject", (o) => raw.blockReject(request, o))
  })

  const stateSummaryAccept = Effect.fnUntraced(function*(summaryBytes: Uint8Array) {
    const request = yield* encode("StateSummaryAccept", () => ({ bytes: bytes("bytes", summaryBytes) }))
    const response = yield* invoke("StateSummaryAccept", (o) => raw.stateSummaryAccept(request, o))
    yield* known("StateSummaryAccept", response.err, "state summary")
    return yield* decode("StateSummaryAccept", (): StateSyncMode => {
      switch (response.mode) {
        case pb.StateSummaryAcceptResponse_Mode.SKIPPED:
          return "skipped"
        case pb.StateSummaryAcceptResponse_Mode.STATIC:
          return "static"
        case pb.StateSummaryAcceptResponse_Mode.DYNAMIC:
          return "dynamic"
        default:
          throw new Malformed(`unknown mode value ${response.mode}`)
      }
    })
  })

  return ChainVm.of({
    initialize,
    setState,
    shutdown,
    createHandlers,
    newHttpHandler,
    waitForEvent,
    connected,
    disconnected,
    buildBlock,
    parseBlock,
    getBlock,
    setPreference,
    health,
    version,
    appRequest,
    appRequestFailed,
    appResponse,
    appGossip,
    crossChainAppRequest,
    crossChainAppRequestFailed,
    crossChainAppResponse,
    gather,
    gatherRaw,
    getAncestors,
    batchedParseBlock,
    getBlockIdAtHeight,
    stateSyncEnabled,
    getOngoingSyncStateSummary,
    getLastStateSummary,
    parseStateSummary,
    getStateSummary,
    blockVerify,
    blockAccept,
    blockReject,
    stateSummaryAccept
  })
}

// ---------------------------------------------------------------------------------------
// Encoding and decoding of fields (throw Unencodable / Malformed)
// ---------------------------------------------------------------------------------------

const isId = Schema.is(Id)
const isNodeId = Schema.is(NodeId)

const sendId = (field: string, value: Id): Uint8Array => {
  if (!isId(value)) {
    throw new Unencodable(`${field} must be a 32-byte id, got ${describeBytes(value)}`)
  }
  return value
}

const sendNodeId = (field: string, value: NodeId): Uint8Array => {
  if (!isNodeId(value)) {
    throw new Unencodable(`${field} must be a 20-byte node id, got ${describeBytes(value)}`)
  }
  return value
}

const describeBytes = (value: unknown): string =>
  value instanceof Uint8Array ? `${value.length} bytes` : typeof value

const bytes = (field: string, value: Uint8Array): Uint8Array => {
  if (!(value instanceof Uint8Array)) throw new Unencodable(`${field} must be a Uint8Array, got ${typeof value}`)
  return value
}

const integer = (field: string, value: number, min: number, max: number, type: string): number => {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Unencodable(`${field} must be a ${type} (${min}..${max}), got ${value}`)
  }
  return value
}
const uint32 = (field: string, value: number) => integer(field, value, 0, 0xffff_ffff, "uint32")
const int32 = (field: string, value: number) => integer(field, value, -0x8000_0000, 0x7fff_ffff, "int32")

const UINT64_MAX = (1n << 64n) - 1n
const INT64_MAX = (1n << 63n) - 1n
const uint64 = (field: string, value: bigint): bigint => {
  if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) {
    throw new Unencodable(`${field} must be a uint64 bigint, got ${String(value)}`)
  }
  return value
}

const int64Nanos = (field: string, value: Duration.Duration): bigint => {
  const nanos = Duration.toNanos(value)
  if (Option.isNone(nanos) || nanos.value > INT64_MAX) {
    throw new Unencodable(`${field} must be a finite duration below 2^63 ns, got ${Duration.format(value)}`)
  }
  return nanos.value
}

const sendDuration = (field: string, value: Duration.Duration): PbDuration => {
  const nanos = int64Nanos(field, value)
  return create(DurationSchema, { seconds: nanos / 1_000_000_000n, nanos: Number(nanos % 1_000_000_000n) })
}

// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_SECONDS = -62_135_596_800n
const MAX_SECONDS = 253_402_300_799n

const sendTimestamp = (field: string, value: DateTime.DateTime): Timestamp => {
  if (!DateTime.isDateTime(value)) throw new Unencodable(`${field} must be a DateTime`)
  const millis = Math.floor(DateTime.toEpochMillis(value))
  const seconds = Math.floor(millis / 1000)
  if (!Number.isFinite(millis) || BigInt(seconds) < MIN_SECONDS || BigInt(seconds) > MAX_SECONDS) {
    throw new Unencodable(`${field} is outside the range of a protobuf Timestamp (years 1 to 9999)`)
  }
  return timestampFromMs(millis)
}

const readTimestamp = (field: string, value: Timestamp | undefined): DateTime.Utc => {
  if (value === undefined) throw new Malformed(`${field} is missing`)
  if (value.seconds < MIN_SECONDS || value.seconds > MAX_SECONDS || value.nanos < 0 || value.nanos > 999_999_999) {
    throw new Malformed(`${field} is not a valid timestamp (seconds ${value.seconds}, nanos ${value.nanos})`)
  }
  return DateTime.makeUnsafe(timestampMs(value))
}

const readId = (field: string, value: Uint8Array): Id => {
  if (value.length !== 32) throw new Malformed(`${field} must be 32 bytes, got ${value.length}`)
  return value as Id
}

const readStatus = (value: pb.Status): BlockStatus => {
  switch (value) {
    case pb.Status.UNSPECIFIED:
      return "unspecified"
    case pb.Status.PROCESSING:
      return "processing"
    case pb.Status.REJECTED:
      return "rejected"
    case pb.Status.ACCEPTED:
      return "accepted"
    default:
      throw new Malformed(`unknown status value ${value}`)
  }
}

const sendState = (state: VmState): pb.State => {
  switch (state) {
    case "state-syncing":
      return pb.State.STATE_SYNCING
    case "bootstrapping":
      return pb.State.BOOTSTRAPPING
    case "normal-op":
      return pb.State.NORMAL_OP
    default:
      throw new Unencodable(`unknown state ${JSON.stringify(state)}`)
  }
}

const sendUpgrades = (u: NetworkUpgrades): pb.NetworkUpgrades =>
  create(pb.NetworkUpgradesSchema, {
    apricotPhase1Time: sendTimestamp("apricot_phase_1_time", u.apricotPhase1Time),
    apricotPhase2Time: sendTimestamp("apricot_phase_2_time", u.apricotPhase2Time),
    apricotPhase3Time: sendTimestamp("apricot_phase_3_time", u.apricotPhase3Time),
    apricotPhase4Time: sendTimestamp("apricot_phase_4_time", u.apricotPhase4Time),
    apricotPhase4MinPChainHeight: uint64("apricot_phase_4_min_p_chain_height", u.apricotPhase4MinPChainHeight),
    apricotPhase5Time: sendTimestamp("apricot_phase_5_time", u.apricotPhase5Time),
    apricotPhasePre6Time: sendTimestamp("apricot_phase_pre_6_time", u.apricotPhasePre6Time),
    apricotPhase6Time: sendTimestamp("apricot_phase_6_time", u.apricotPhase6Time),
    apricotPhasePost6Time: sendTimestamp("apricot_phase_post_6_time", u.apricotPhasePost6Time),
    banffTime: sendTimestamp("banff_time", u.banffTime),
    cortinaTime: sendTimestamp("cortina_time", u.cortinaTime),
    cortinaXChainStopVertexId: sendId("cortina_x_chain_stop_vertex_id", u.cortinaXChainStopVertexId),
    durangoTime: sendTimestamp("durango_time", u.durangoTime),
    etnaTime: sendTimestamp("etna_time", u.etnaTime),
    fortunaTime: sendTimestamp("fortuna_time", u.fortunaTime),
    graniteTime: sendTimestamp("granite_time", u.graniteTime),
    graniteEpochDuration: sendDuration("granite_epoch_duration", u.graniteEpochDuration),
    heliconTime: sendTimestamp("helicon_time", u.heliconTime)
  })

const metricTypes: Record<number, MetricType> = {
  [PbMetricType.COUNTER]: "counter",
  [PbMetricType.GAUGE]: "gauge",
  [PbMetricType.SUMMARY]: "summary",
  [PbMetricType.UNTYPED]: "untyped",
  [PbMetricType.HISTOGRAM]: "histogram",
  [PbMetricType.GAUGE_HISTOGRAM]: "gauge-histogram"
}

const toMetricFamily = (family: PbMetricFamily): MetricFamily => {
  const type = metricTypes[family.type]
  if (type === undefined) throw new Malformed(`metric family ${family.name}: unknown type ${family.type}`)
  return {
    name: family.name,
    help: family.help,
    type,
    unit: family.unit === "" ? undefined : family.unit,
    metrics: family.metric.map((m): Metric => ({
      labels: Object.fromEntries(m.label.map((l) => [l.name, l.value])),
      timestampMs: isFieldSet(m, MetricSchema.field.timestampMs) ? m.timestampMs : undefined,
      value: m.counter?.value ?? m.gauge?.value ?? m.untyped?.value,
      summary: m.summary === undefined ? undefined : {
        sampleCount: Number(m.summary.sampleCount),
        sampleSum: m.summary.sampleSum,
        quantiles: m.summary.quantile.map((q) => ({ quantile: q.quantile, value: q.value }))
      },
      histogram: m.histogram === undefined ? undefined : {
        sampleCount: m.histogram.sampleCountFloat > 0 ? m.histogram.sampleCountFloat : Number(m.histogram.sampleCount),
        sampleSum: m.histogram.sampleSum,
        buckets: m.histogram.bucket.map((b) => ({
          upperBound: b.upperBound,
          cumulativeCount: b.cumulativeCountFloat > 0 ? b.cumulativeCountFloat : Number(b.cumulativeCount)
        }))
      }
    }))
  }
}
