/**
 * `vm.VM` over a {@link VmDefinition}: the gRPC service a VM plugin serves to the node.
 *
 * What the SDK does for every VM, as avalanchego's `rpcchainvm.VMServer` (and the
 * `chain.State` helper around it) does for Go VMs:
 * - Version and Shutdown are answered before Initialize (avalanchego calls just those two
 *   when it registers a plugin); any other call before Initialize fails with
 *   FAILED_PRECONDITION, and after Shutdown with `ERROR_CLOSED` / "closed";
 * - at Initialize it connects to `db_server_addr` (an rpcdb client) and hands the VM the
 *   database; the connection is closed at Shutdown;
 * - verified blocks stay retrievable by id until accepted or rejected (BlockAccept and
 *   BlockReject carry only the id; BlockVerify carries bytes, which are parsed again);
 * - `NotFound` travels as gRPC OK with `err = ERROR_NOT_FOUND` (GetBlock,
 *   GetBlockIDAtHeight), `Closed`/`DatabaseClosed` as `ERROR_CLOSED`; every other failure
 *   is a gRPC error status whose text is the error's message (never an empty UNKNOWN);
 * - IDs in requests must be 32 bytes (INVALID_ARGUMENT otherwise), and IDs, heights and
 *   timestamps of the VM's blocks are checked before they go out;
 * - GetAncestors, BatchedParseBlock, Gather (Effect metrics as Prometheus families), Health
 *   (JSON `{"database": …, "health": …}`), the state-sync RPCs (without a `stateSync` VM:
 *   `ERROR_STATE_SYNC_NOT_IMPLEMENTED`, and `enabled = false` for StateSyncEnabled) and
 *   WaitForEvent (default: the VM's `notify` calls), interrupted at Shutdown;
 * - the luxd `status` of ParseBlock/GetBlock answers.
 *
 * Consensus calls (Initialize, SetState, Shutdown, blocks, height index, state sync) run
 * one at a time, in arrival order, as the Go node's chain lock runs them; Version, Health,
 * Gather, WaitForEvent, peer and app messages run concurrently with them.
 */
import type { MessageInitShape } from "@bufbuild/protobuf"
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect"
import {
  type BuildBlockResponseSchema,
  Error as ErrEnum,
  type GetBlockResponseSchema,
  Message as MessageEnum,
  type ParseBlockResponseSchema,
  State as StateEnum,
  StateSummaryAcceptResponse_Mode as ModeEnum,
  Status as StatusEnum,
  VM
} from "@vmre/proto/vm/vm_pb"
import type { Database } from "@vmre/rpcdb/Database"
import * as RpcDbClient from "@vmre/rpcdb/RpcDbClient"
import { Cause, Deferred, Effect, Exit, Metric, Option, Result, Scope, Semaphore } from "effect"
import * as BlockModule from "./Block.ts"
import type { Block } from "./Block.ts"
import { type VmDefinition, Closed, type EngineEvent, type InitializeContext, NotFound, type StateSyncMode, type VmState } from "./VmDefinition.ts"
import * as Id from "./Id.ts"
import * as Metrics from "./Metrics.ts"

/** An app request's deadline; upstream always sets it, the epoch stands in for a missing one. */
const deadlineOf = (deadline: Timestamp | undefined): Date => deadline === undefined ? new Date(0) : timestampDate(deadline)

export interface VmServerOptions {
  /**
   * Opens the database the VM gets at Initialize, from `db_server_addr`. Default: an rpcdb
   * client of that address (`@vmre/rpcdb` RpcDbClient), closed at Shutdown.
   */
  readonly connectDatabase?: (address: string) => Effect.Effect<Database, unknown, Scope.Scope>
}

export interface VmServer {
  /** The Connect implementation of `vm.VM`. */
  readonly service: ServiceImpl<typeof VM>
  /** Registers `vm.VM` on a Connect router. */
  readonly routes: (router: ConnectRouter) => void
  /** Completes when the Shutdown RPC has been received (before the VM's shutdown runs). */
  readonly shutdownReceived: Effect.Effect<void>
  /** Synchronous view of the same, for signal handlers. */
  readonly isShutdownReceived: () => boolean
}

type Phase = "new" | "initializing" | "ready" | "shutdown"

/** A failure already shaped for the wire. */
const rpcError = (message: string, code: Code) => new ConnectError(message, code)

/** The text of any failure: the error's message, never empty. */
export const messageOf = (error: unknown): string => {
  if (error instanceof ConnectError) return error.rawMessage
  if (error instanceof Error && error.message !== "") return error.message
  if (typeof error === "object" && error !== null) {
    const { message, _tag } = error as { message?: unknown; _tag?: unknown }
    if (typeof message === "string" && message !== "") return message
    if (typeof _tag === "string") return _tag
  }
  if (typeof error === "string" && error !== "") return error
  const text = String(error)
  return text === "" || text === "[object Object]" ? "the vm failed without an error message" : text
}

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && typeof (error as { _tag?: unknown })._tag === "string"
    ? (error as { _tag: string })._tag
    : undefined

/** The `err` enum for the errors the node knows by identity. */
const errEnumOf = (error: unknown): ErrEnum | undefined => {
  switch (tagOf(error)) {
    case "NotFound":
      return ErrEnum.NOT_FOUND
    case "Closed":
    case "DatabaseClosed":
      return ErrEnum.CLOSED
    default:
      return undefined
  }
}

/** The gRPC error for a failed call: the failure's own ConnectError, or its message. */
const toConnectError = (cause: Cause.Cause<unknown>): ConnectError => {
  if (Cause.hasInterruptsOnly(cause)) return rpcError("the call was cancelled", Code.Canceled)
  const found = Cause.findError(cause)
  const error = Result.isSuccess(found) ? found.success : Cause.squash(cause)
  if (error instanceof ConnectError) return error
  // A plain error of a Go server is UNKNOWN with the error's text; so is ours.
  return rpcError(messageOf(error), Code.Unknown)
}

/** Upstream converts ids with ids.ToNodeID / ids.ToID, which refuse any other length. */
const requireLength = (bytes: Uint8Array, field: string, length: number): Effect.Effect<void, ConnectError> =>
  bytes.length === length
    ? Effect.void
    : Effect.fail(rpcError(`${field} must be ${length} bytes, got ${bytes.length}`, Code.InvalidArgument))
const requireNodeId = (bytes: Uint8Array) => requireLength(bytes, "node_id", Id.NODE_ID_LENGTH)
const requireChainId = (bytes: Uint8Array) => requireLength(bytes, "chain_id", Id.ID_LENGTH)

const requireId = (bytes: Uint8Array, field: string): Effect.Effect<Uint8Array, ConnectError> =>
  Id.isId(bytes)
    ? Effect.succeed(bytes)
    : Effect.fail(rpcError(`${field} must be ${Id.ID_LENGTH} bytes, got ${bytes.length}`, Code.InvalidArgument))

const checkBlock = <B extends Block>(block: B): Effect.Effect<B, ConnectError> => {
  const problem = BlockModule.problemOf(block)
  return problem === undefined ? Effect.succeed(block) : Effect.fail(rpcError(problem, Code.Internal))
}

const timestampOf = (block: Block) => {
  const ts = BlockModule.toTimestamp(BlockModule.timestampDate(block))
  // checkBlock ran before: the timestamp is valid.
  return "timestamp" in ts ? ts.timestamp : undefined
}

// A valid timestamp for answers that carry no block (not-found answers).
const epoch = (() => {
  const ts = BlockModule.toTimestamp(new Date(0))
  return "timestamp" in ts ? ts.timestamp : undefined
})()

const vmStateOf = (state: StateEnum): VmState | undefined => {
  switch (state) {
    case StateEnum.STATE_SYNCING:
      return "StateSyncing"
    case StateEnum.BOOTSTRAPPING:
      return "Bootstrapping"
    case StateEnum.NORMAL_OP:
      return "NormalOp"
    default:
      return undefined
  }
}

const modeOf = (mode: StateSyncMode): ModeEnum => {
  switch (mode) {
    case "Skipped":
      return ModeEnum.SKIPPED
    case "Static":
      return ModeEnum.STATIC
    case "Dynamic":
      return ModeEnum.DYNAMIC
  }
}

const messageEnumOf = (event: EngineEvent): MessageEnum =>
  event === "BuildBlock" ? MessageEnum.BUILD_BLOCK : MessageEnum.STATE_SYNC_FINISHED

const jsonBytes = (value: unknown): Uint8Array =>
  new TextEncoder().encode(
    JSON.stringify(value ?? null, (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString()
      if (v instanceof Uint8Array) return Id.toHex(v)
      return v
    })
  )

/** Avalanchego's wrappers.IntLen: GetAncestors counts 4 length bytes per block. */
const INT_LEN = 4

/**
 * Builds the `vm.VM` service for `vm`. The server's scope owns the database connection
 * and the VM's fibers; the Effect context it is made in (logger, metric registry, …) is the
 * one every VM effect runs in.
 */
export const make = <B extends Block>(
  vm: VmDefinition<B>,
  options: VmServerOptions = {}
): Effect.Effect<VmServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const serverScope = yield* Effect.scope
    const lock = yield* Semaphore.make(1)
    const shutdown = yield* Deferred.make<void>()
    const connectDatabase = options.connectDatabase ?? RpcDbClient.make

    let phase: Phase = "new"
    let shutdownReceived = false
    let database: Database | undefined
    let sessionScope: Scope.Closeable | undefined
    let lastAccepted: { id: Uint8Array; height: bigint } | undefined
    /** Verified, undecided blocks by hex id. */
    const verified = new Map<string, B>()

    // --- engine events (the default WaitForEvent) ---------------------------------------
    const pendingEvents = new Set<EngineEvent>()
    const waiters = new Set<(event: EngineEvent) => void>()
    const notify = (event: EngineEvent): Effect.Effect<void> =>
      Effect.sync(() => {
        const [waiter] = waiters
        if (waiter === undefined) {
          pendingEvents.add(event)
        } else {
          waiters.delete(waiter)
          waiter(event)
        }
      })
    const nextEvent: Effect.Effect<EngineEvent> = Effect.callback<EngineEvent>((resume) => {
      const [first] = pendingEvents
      if (first !== undefined) {
        pendingEvents.delete(first)
        resume(Effect.succeed(first))
        return
      }
      const waiter = (event: EngineEvent) => resume(Effect.succeed(event))
      waiters.add(waiter)
      return Effect.sync(() => {
        waiters.delete(waiter)
      })
    })

    // --- metrics --------------------------------------------------------------------------
    const count = (metric: Metric.Counter<number>) => Metric.update(metric, 1)
    const updateGauges = Effect.suspend(() =>
      Effect.andThen(
        Metric.update(Metrics.processingBlocks, verified.size),
        lastAccepted === undefined ? Effect.void : Metric.update(Metrics.lastAcceptedHeight, Number(lastAccepted.height))
      )
    )

    // --- running calls ----------------------------------------------------------------------
    // One attributed counter per method, made once rather than on every call.
    const counters = new Map<string, { readonly calls: Metric.Counter<number>; readonly errors: Metric.Counter<number> }>()
    const countersOf = (method: string) => {
      let found = counters.get(method)
      if (found === undefined) {
        found = {
          calls: Metric.withAttributes(Metrics.rpcCalls, { method }),
          errors: Metric.withAttributes(Metrics.rpcErrors, { method })
        }
        counters.set(method, found)
      }
      return found
    }
    const run = <A>(
      method: string,
      effect: Effect.Effect<A, unknown>,
      handler: HandlerContext,
      options: { readonly locked?: boolean } = {}
    ): Promise<A> => {
      const body = options.locked === true ? lock.withPermit(effect) : effect
      return Effect.runPromiseExitWith(context)(
        Effect.andThen(Metric.update(countersOf(method).calls, 1), body),
        { signal: handler.signal }
      ).then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value
        const error = toConnectError(exit.cause)
        return Effect.runPromiseWith(context)(
          Metric.update(countersOf(method).errors, 1)
        ).then(() => {
          throw error
        })
      })
    }

    /** Fails unless Initialize has completed and Shutdown has not. */
    const ready: Effect.Effect<void, ConnectError | Closed> = Effect.suspend((): Effect.Effect<void, ConnectError | Closed> => {
      switch (phase) {
        case "ready":
          return Effect.void
        case "shutdown":
          return Effect.fail(new Closed())
        default:
          return Effect.fail(
            rpcError("the vm is not initialized - call Initialize first", Code.FailedPrecondition)
          )
      }
    })

    /**
     * A notification from the engine (peers, app messages): its ids checked, then forwarded to
     * the VM's optional handler once initialized.
     */
    const forward = (
      method: string,
      handler: HandlerContext,
      check: Effect.Effect<void, ConnectError>,
      call: Effect.Effect<void, unknown> | undefined
    ) => run(method, Effect.andThen(ready, Effect.andThen(check, call ?? Effect.void)).pipe(Effect.as({})), handler)

    /** A verified block, or the VM's. */
    const findBlock = (id: Uint8Array): Effect.Effect<B, unknown> =>
      Effect.suspend(() => {
        const block = verified.get(Id.toHex(id))
        return block === undefined ? vm.getBlock(id) : Effect.succeed(block)
      })

    const shouldVerifyWithContext = (block: B): Effect.Effect<boolean, unknown> =>
      block.shouldVerifyWithContext ?? Effect.succeed(block.verifyWithContext !== undefined)

    /** luxd's block status: processing, accepted (on the accepted chain) or rejected. */
    const statusOf = (block: B): Effect.Effect<StatusEnum> =>
      Effect.suspend(() => {
        if (verified.has(Id.toHex(block.id))) return Effect.succeed(StatusEnum.PROCESSING)
        if (lastAccepted === undefined || block.height > lastAccepted.height) {
          return Effect.succeed(StatusEnum.PROCESSING)
        }
        if (Id.equals(block.id, lastAccepted.id)) return Effect.succeed(StatusEnum.ACCEPTED)
        return vm.getBlockIdAtHeight(block.height).pipe(
          Effect.map((id) => (Id.equals(id, block.id) ? StatusEnum.ACCEPTED : StatusEnum.REJECTED)),
          Effect.catch(() => Effect.succeed(StatusEnum.PROCESSING))
        )
      })

    const parseResponse = (block: B): Effect.Effect<MessageInitShape<typeof ParseBlockResponseSchema>, unknown> =>
      Effect.gen(function*() {
        yield* checkBlock(block)
        return {
          id: block.id,
          parentId: block.parentId,
          status: yield* statusOf(block),
          height: block.height,
          timestamp: timestampOf(block),
          verifyWithContext: yield* shouldVerifyWithContext(block)
        }
      })

    /** Parses bytes; a block already verified is the verified instance. */
    const parse = (bytes: Uint8Array): Effect.Effect<B, unknown> =>
      vm.parseBlock(bytes).pipe(
        Effect.flatMap(checkBlock),
        Effect.map((block) => verified.get(Id.toHex(block.id)) ?? block)
      )

    const lastAcceptedResponse = (block: B) =>
      Effect.gen(function*() {
        yield* checkBlock(block)
        lastAccepted = { id: block.id, height: block.height }
        yield* updateGauges
        return {
          lastAcceptedId: block.id,
          lastAcceptedParentId: block.parentId,
          height: block.height,
          bytes: block.bytes,
          timestamp: timestampOf(block)
        }
      })

    /** Catches the failures the node knows by identity into `{ err }`. */
    const orErrEnum = <A, E>(effect: Effect.Effect<A, E>, extra: object = {}) =>
      effect.pipe(
        Effect.catch((error) => {
          const err = errEnumOf(error)
          return err === undefined ? Effect.fail(error) : Effect.succeed({ ...extra, err })
        })
      )

    const closeSession = Effect.suspend(() => {
      const scope = sessionScope
      sessionScope = undefined
      database = undefined
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    })

    // Marked as soon as the call arrives (before waiting for the consensus lock), as
    // upstream sets allowShutdown first: a SIGTERM that follows is then obeyed even if a
    // VM call still holds the lock. It also interrupts pending WaitForEvent calls.
    const markShutdownReceived = Effect.suspend(() => {
      if (shutdownReceived) return Effect.void
      shutdownReceived = true
      return Deferred.succeed(shutdown, undefined)
    })

    const doShutdown = Effect.gen(function*() {
      if (phase !== "ready") {
        phase = "shutdown"
        return {}
      }
      phase = "shutdown"
      const vmExit = yield* Effect.exit(vm.shutdown)
      yield* closeSession
      verified.clear()
      if (Exit.isFailure(vmExit)) return yield* Effect.failCause(vmExit.cause)
      return {}
    })

    const stateSyncNotImplemented = { err: ErrEnum.STATE_SYNC_NOT_IMPLEMENTED }

    const service: ServiceImpl<typeof VM> = {
      initialize: (request, handler) =>
        run(
          "Initialize",
          // Uninterruptible but for the database dial and the VM's initialize: a cancelled
          // call still leaves the server in a consistent phase with nothing left open.
          Effect.uninterruptibleMask((restore) => Effect.gen(function*() {
            if (phase === "shutdown") return yield* new Closed()
            if (phase !== "new") {
              return yield* Effect.fail(rpcError("the vm is already initialized", Code.FailedPrecondition))
            }
            if (request.dbServerAddr === "") {
              return yield* Effect.fail(
                rpcError("Initialize needs db_server_addr (the node's rpcdb server)", Code.InvalidArgument)
              )
            }
            phase = "initializing"
            // The session scope holds the database connection and whatever the VM acquires
            // in initialize; it closes at Shutdown (VM resources first, the database last).
            const scope = yield* Scope.fork(serverScope)
            const opened = yield* Effect.exit(
              restore(Scope.provide(connectDatabase(request.dbServerAddr), scope)).pipe(
                Effect.mapError((error) =>
                  rpcError(`cannot open the database at ${request.dbServerAddr}: ${messageOf(error)}`, Code.Unavailable)
                )
              )
            )
            if (Exit.isFailure(opened)) {
              phase = "new"
              yield* Scope.close(scope, Exit.void)
              return yield* Effect.failCause(opened.cause)
            }
            sessionScope = scope
            database = opened.value
            const initContext: InitializeContext = {
              networkId: request.networkId,
              subnetId: request.subnetId,
              chainId: request.chainId,
              nodeId: request.nodeId,
              publicKey: request.publicKey,
              xChainId: request.xChainId,
              cChainId: request.cChainId,
              assetId: request.avaxAssetId,
              chainDataDir: request.chainDataDir,
              genesisBytes: request.genesisBytes,
              upgradeBytes: request.upgradeBytes,
              configBytes: request.configBytes,
              database: opened.value,
              dbServerAddr: request.dbServerAddr,
              serverAddr: request.serverAddr,
              networkUpgrades: Option.fromUndefinedOr(request.networkUpgrades),
              notify
            }
            const initialized = yield* Effect.exit(
              restore(vm.initialize(initContext).pipe(Scope.provide(scope))).pipe(Effect.flatMap(lastAcceptedResponse))
            )
            if (Exit.isFailure(initialized)) {
              phase = "new"
              yield* closeSession
              return yield* Effect.failCause(initialized.cause)
            }
            // Added last, so it runs first: a server stopped without Shutdown still shuts the
            // VM down before its resources and the database go.
            yield* Scope.addFinalizer(
              scope,
              Effect.suspend(() => {
                if (phase !== "ready") return Effect.void
                phase = "shutdown"
                return Effect.ignore(vm.shutdown)
              })
            )
            phase = "ready"
            return initialized.value
          })),
          handler,
          { locked: true }
        ),

      setState: (request, handler) =>
        run(
          "SetState",
          Effect.gen(function*() {
            yield* ready
            const state = vmStateOf(request.state)
            if (state === undefined) {
              return yield* Effect.fail(rpcError(`unknown state ${request.state}`, Code.InvalidArgument))
            }
            yield* vm.setState(state)
            const id = yield* vm.lastAccepted
            return yield* lastAcceptedResponse(yield* findBlock(yield* requireId(id, "the vm's last accepted id")))
          }),
          handler,
          { locked: true }
        ),

      shutdown: (_request, handler) =>
        run("Shutdown", Effect.andThen(markShutdownReceived, lock.withPermit(Effect.uninterruptible(doShutdown))), handler),

      createHandlers: (_request, handler) =>
        run(
          "CreateHandlers",
          Effect.gen(function*() {
            yield* ready
            const handlers = vm.createHandlers === undefined ? [] : yield* vm.createHandlers
            return { handlers: handlers.map((h) => ({ prefix: h.prefix, serverAddr: h.serverAddr })) }
          }),
          handler
        ),

      newHTTPHandler: (_request, handler) =>
        run(
          "NewHTTPHandler",
          Effect.gen(function*() {
            yield* ready
            const address = vm.newHttpHandler === undefined ? Option.none() : yield* vm.newHttpHandler
            return { serverAddr: Option.getOrElse(address, () => "") }
          }),
          handler
        ),

      waitForEvent: (_request, handler) =>
        run(
          "WaitForEvent",
          Effect.gen(function*() {
            yield* ready
            const event = yield* Effect.raceFirst(
              vm.waitForEvent ?? nextEvent,
              Deferred.await(shutdown).pipe(Effect.andThen(Effect.fail(new Closed())))
            )
            return { message: messageEnumOf(event) }
          }),
          handler
        ),

      connected: (request, handler) =>
        forward("Connected", handler, requireNodeId(request.nodeId), vm.connected?.(request.nodeId, {
          name: request.name,
          major: request.major,
          minor: request.minor,
          patch: request.patch
        })),

      disconnected: (request, handler) =>
        forward("Disconnected", handler, requireNodeId(request.nodeId), vm.disconnected?.(request.nodeId)),

      buildBlock: (request, handler) =>
        run(
          "BuildBlock",
          Effect.gen(function*() {
            yield* ready
            // This build answers the pending request; the VM notifies again if more is pending.
            pendingEvents.delete("BuildBlock")
            const block = yield* vm.buildBlock(
              request.pChainHeight === undefined ? {} : { pChainHeight: request.pChainHeight }
            ).pipe(Effect.flatMap(checkBlock))
            yield* count(Metrics.blocksBuilt)
            const response: MessageInitShape<typeof BuildBlockResponseSchema> = {
              id: block.id,
              parentId: block.parentId,
              bytes: block.bytes,
              height: block.height,
              timestamp: timestampOf(block),
              verifyWithContext: yield* shouldVerifyWithContext(block)
            }
            return response
          }),
          handler,
          { locked: true }
        ),

      parseBlock: (request, handler) =>
        run(
          "ParseBlock",
          ready.pipe(Effect.andThen(parse(request.bytes)), Effect.flatMap(parseResponse)),
          handler,
          { locked: true }
        ),

      getBlock: (request, handler) =>
        run(
          "GetBlock",
          Effect.gen(function*() {
            yield* ready
            const id = yield* requireId(request.id, "id")
            const block = yield* findBlock(id).pipe(Effect.flatMap(checkBlock))
            const response: MessageInitShape<typeof GetBlockResponseSchema> = {
              parentId: block.parentId,
              bytes: block.bytes,
              status: yield* statusOf(block),
              height: block.height,
              timestamp: timestampOf(block),
              verifyWithContext: yield* shouldVerifyWithContext(block)
            }
            return response
          }).pipe((effect) => orErrEnum(effect, { timestamp: epoch })),
          handler,
          { locked: true }
        ),

      setPreference: (request, handler) =>
        run(
          "SetPreference",
          Effect.gen(function*() {
            yield* ready
            yield* vm.setPreference(yield* requireId(request.id, "id"))
            return {}
          }),
          handler,
          { locked: true }
        ),

      health: (_request, handler) =>
        run(
          "Health",
          Effect.gen(function*() {
            yield* ready
            const db = database
            const databaseHealth = db === undefined ? null : yield* db.health
            const vmHealth = yield* vm.health
            return { details: jsonBytes({ database: databaseHealth, health: vmHealth }) }
          }),
          handler
        ),

      version: (_request, handler) =>
        run(
          "Version",
          Effect.map(typeof vm.version === "string" ? Effect.succeed(vm.version) : vm.version, (version) => ({
            version
          })),
          handler
        ),

      gather: (_request, handler) =>
        run(
          "Gather",
          Effect.gen(function*() {
            yield* updateGauges
            const own = yield* Metrics.gather
            const extra = vm.gather !== undefined && phase === "ready" ? yield* vm.gather : []
            return { metricFamilies: Metrics.merge(own, extra) }
          }),
          handler
        ),

      appRequest: (request, handler) =>
        forward("AppRequest", handler, requireNodeId(request.nodeId), vm.appRequest?.({
          nodeId: request.nodeId,
          requestId: request.requestId,
          deadline: deadlineOf(request.deadline),
          request: request.request
        })),

      appRequestFailed: (request, handler) =>
        forward("AppRequestFailed", handler, requireNodeId(request.nodeId), vm.appRequestFailed?.({
          nodeId: request.nodeId,
          requestId: request.requestId,
          errorCode: request.errorCode,
          errorMessage: request.errorMessage
        })),

      appResponse: (request, handler) =>
        forward("AppResponse", handler, requireNodeId(request.nodeId), vm.appResponse?.({
          nodeId: request.nodeId,
          requestId: request.requestId,
          response: request.response
        })),

      appGossip: (request, handler) =>
        forward("AppGossip", handler, requireNodeId(request.nodeId), vm.appGossip?.({ nodeId: request.nodeId, msg: request.msg })),

      crossChainAppRequest: (request, handler) =>
        forward("CrossChainAppRequest", handler, requireChainId(request.chainId), vm.crossChainAppRequest?.({
          chainId: request.chainId,
          requestId: request.requestId,
          deadline: deadlineOf(request.deadline),
          request: request.request
        })),

      crossChainAppRequestFailed: (request, handler) =>
        forward("CrossChainAppRequestFailed", handler, requireChainId(request.chainId), vm.crossChainAppRequestFailed?.({
          chainId: request.chainId,
          requestId: request.requestId,
          errorCode: request.errorCode,
          errorMessage: request.errorMessage
        })),

      crossChainAppResponse: (request, handler) =>
        forward("CrossChainAppResponse", handler, requireChainId(request.chainId), vm.crossChainAppResponse?.({
          chainId: request.chainId,
          requestId: request.requestId,
          response: request.response
        })),

      getAncestors: (request, handler) =>
        run(
          "GetAncestors",
          Effect.gen(function*() {
            yield* ready
            const id = yield* requireId(request.blkId, "blk_id")
            const started = Date.now()
            const maxMillis = Number(request.maxBlocksRetrivalTime / 1_000_000n)
            const first = yield* Effect.exit(findBlock(id).pipe(Effect.flatMap(checkBlock)))
            if (Exit.isFailure(first)) {
              const found = Cause.findError(first.cause)
              // Not found: an empty answer tells the peer to ask someone else (upstream).
              if (Result.isSuccess(found) && errEnumOf(found.success) === ErrEnum.NOT_FOUND) return { blksBytes: [] }
              return yield* Effect.failCause(first.cause)
            }
            let block = first.value
            const blocks: Array<Uint8Array> = [block.bytes]
            let size = block.bytes.length + INT_LEN
            while (blocks.length < request.maxBlocksNum && Date.now() - started < maxMillis) {
              const parent = yield* Effect.exit(findBlock(block.parentId).pipe(Effect.flatMap(checkBlock)))
              // Not found (the genesis' parent, or pruned history) or any failure ends the walk.
              if (Exit.isFailure(parent)) break
              const next = size + parent.value.bytes.length + INT_LEN
              if (next > request.maxBlocksSize) break
              blocks.push(parent.value.bytes)
              size = next
              block = parent.value
            }
            return { blksBytes: blocks }
          }),
          handler,
          { locked: true }
        ),

      batchedParseBlock: (request, handler) =>
        run(
          "BatchedParseBlock",
          ready.pipe(
            Effect.andThen(
              Effect.forEach(request.request, (bytes) => parse(bytes).pipe(Effect.flatMap(parseResponse)))
            ),
            Effect.map((response) => ({ response }))
          ),
          handler,
          { locked: true }
        ),

      getBlockIDAtHeight: (request, handler) =>
        run(
          "GetBlockIDAtHeight",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              const id = yield* vm.getBlockIdAtHeight(request.height)
              if (!Id.isId(id)) {
                return yield* Effect.fail(
                  rpcError(`the vm returned a block id of ${id.length} bytes for height ${request.height}`, Code.Internal)
                )
              }
              return { blkId: id }
            })
          ),
          handler,
          { locked: true }
        ),

      stateSyncEnabled: (_request, handler) =>
        run(
          "StateSyncEnabled",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              // Upstream answers a VM without state sync with enabled = false and no error.
              const enabled = vm.stateSync === undefined ? false : yield* vm.stateSync.enabled
              return { enabled }
            })
          ),
          handler,
          { locked: true }
        ),

      getOngoingSyncStateSummary: (_request, handler) =>
        run(
          "GetOngoingSyncStateSummary",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              if (vm.stateSync === undefined) return stateSyncNotImplemented
              const summary = yield* vm.stateSync.getOngoingSyncStateSummary
              return { id: summary.id, height: summary.height, bytes: summary.bytes }
            })
          ),
          handler,
          { locked: true }
        ),

      getLastStateSummary: (_request, handler) =>
        run(
          "GetLastStateSummary",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              if (vm.stateSync === undefined) return stateSyncNotImplemented
              const summary = yield* vm.stateSync.getLastStateSummary
              return { id: summary.id, height: summary.height, bytes: summary.bytes }
            })
          ),
          handler,
          { locked: true }
        ),

      parseStateSummary: (request, handler) =>
        run(
          "ParseStateSummary",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              if (vm.stateSync === undefined) return stateSyncNotImplemented
              const summary = yield* vm.stateSync.parseStateSummary(request.bytes)
              return { id: summary.id, height: summary.height }
            })
          ),
          handler,
          { locked: true }
        ),

      getStateSummary: (request, handler) =>
        run(
          "GetStateSummary",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              if (vm.stateSync === undefined) return stateSyncNotImplemented
              const summary = yield* vm.stateSync.getStateSummary(request.height)
              return { id: summary.id, bytes: summary.bytes }
            })
          ),
          handler,
          { locked: true }
        ),

      stateSummaryAccept: (request, handler) =>
        run(
          "StateSummaryAccept",
          orErrEnum(
            Effect.gen(function*() {
              yield* ready
              // Upstream: mode SKIPPED with the not-implemented error.
              if (vm.stateSync === undefined) return { mode: ModeEnum.SKIPPED, ...stateSyncNotImplemented }
              const summary = yield* vm.stateSync.parseStateSummary(request.bytes)
              return { mode: modeOf(yield* summary.accept) }
            }),
            { mode: ModeEnum.SKIPPED }
          ),
          handler,
          { locked: true }
        ),

      blockVerify: (request, handler) =>
        run(
          "BlockVerify",
          Effect.gen(function*() {
            yield* ready
            const block = yield* parse(request.bytes)
            const key = Id.toHex(block.id)
            if (!verified.has(key)) {
              const verification = request.pChainHeight === undefined
                ? block.verify
                : block.verifyWithContext === undefined
                ? Effect.fail(
                  rpcError(
                    `block ${BlockModule.describe(block)} cannot be verified with a context (p_chain_height was set)`,
                    Code.Unknown
                  )
                )
                : block.verifyWithContext({ pChainHeight: request.pChainHeight })
              // A verified block is remembered even if the call is cancelled meanwhile.
              yield* Effect.uninterruptible(
                verification.pipe(
                  Effect.tapError(() => count(Metrics.blocksVerifyFailed)),
                  Effect.andThen(Effect.sync(() => verified.set(key, block))),
                  Effect.andThen(count(Metrics.blocksVerified)),
                  Effect.andThen(updateGauges)
                )
              )
            }
            return { timestamp: timestampOf(block) }
          }),
          handler,
          { locked: true }
        ),

      blockAccept: (request, handler) =>
        run(
          "BlockAccept",
          Effect.gen(function*() {
            yield* ready
            const id = yield* requireId(request.id, "id")
            const block = yield* findBlock(id).pipe(Effect.flatMap(checkBlock))
            yield* Effect.uninterruptible(
              block.accept.pipe(
                Effect.andThen(Effect.sync(() => {
                  verified.delete(Id.toHex(id))
                  lastAccepted = { id: block.id, height: block.height }
                })),
                Effect.andThen(count(Metrics.blocksAccepted)),
                Effect.andThen(updateGauges)
              )
            )
            return {}
          }),
          handler,
          { locked: true }
        ),

      blockReject: (request, handler) =>
        run(
          "BlockReject",
          Effect.gen(function*() {
            yield* ready
            const id = yield* requireId(request.id, "id")
            const block = yield* findBlock(id).pipe(Effect.flatMap(checkBlock))
            yield* Effect.uninterruptible(
              block.reject.pipe(
                Effect.andThen(Effect.sync(() => verified.delete(Id.toHex(id)))),
                Effect.andThen(count(Metrics.blocksRejected)),
                Effect.andThen(updateGauges)
              )
            )
            return {}
          }),
          handler,
          { locked: true }
        )
    }

    return {
      service,
      routes: (router: ConnectRouter) => {
        router.service(VM, service)
      },
      shutdownReceived: Deferred.await(shutdown),
      isShutdownReceived: () => shutdownReceived
    }
  })

export { NotFound }
