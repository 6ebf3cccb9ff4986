/**
 * The RPCs that open, move and close the session, and the ones that describe the VM:
 * Initialize, SetState, Shutdown, Version, Health, Gather, CreateHandlers, NewHTTPHandler,
 * WaitForEvent.
 */
import * as NodeClients from "../NodeClients.ts"
import { Code, type ServiceImpl } from "@connectrpc/connect"
import type { VM } from "@vmre/proto/vm/vm_pb"
import { VmEnums } from "@vmre/wire"
import { Effect, Exit, Option, Ref, Scope } from "effect"
import type { Block } from "../Block.ts"
import * as Metrics from "../Metrics.ts"
import { Closed, type InitializeContext, type VmEvent } from "../VmDefinition.ts"
import { checkBlock, jsonBytes, requireId, timestampOf, vmStateOf } from "./Codec.ts"
import { messageOf, rpcError } from "./Failures.ts"
import type { ServerParts } from "./Parts.ts"
import * as HttpHandlers from "../HttpHandlers.ts"
import * as HttpRpcs from "./HttpRpcs.ts"
import * as Session from "./Session.ts"

type SessionService = Pick<
  ServiceImpl<typeof VM>,
  | "initialize"
  | "setState"
  | "shutdown"
  | "version"
  | "health"
  | "gather"
  | "createHandlers"
  | "newHTTPHandler"
  | "waitForEvent"
>

export const sessionRpcs = <B extends Block>(parts: ServerParts<B>): SessionService => {
  const { blocks, handle, mailbox, session, vm } = parts
  const servedHandlers = new WeakMap<Session.Ready, ReadonlyArray<{ prefix: string; serverAddr: string }>>()
  const servedHeaderHandler = new WeakMap<Session.Ready, string>()

  /** The answer of Initialize and SetState; the block becomes the last accepted. */
  const lastAcceptedResponse = (block: B) =>
    Effect.gen(function*() {
      yield* checkBlock(block)
      blocks.setLastAccepted(block)
      yield* blocks.updateGauges
      return {
        lastAcceptedId: block.id,
        lastAcceptedParentId: block.parentId,
        height: block.height,
        bytes: block.bytes,
        timestamp: timestampOf(block)
      }
    })

  /**
   * A VM's signal reaches the engine both ways the nodes ask for it: the WaitForEvent mailbox
   * (avalanchego) and luxd's messenger Notify, pushed beside it. Once the node answers
   * Unimplemented (it serves no messenger), Notify is not tried again; "full message queue"
   * (one is pending) is fine.
   */
  const notifyBoth = (local: (event: VmEvent) => Effect.Effect<void>, node: NodeClients.NodeClients) => {
    let messenger = true
    return (event: VmEvent) =>
      Effect.andThen(
        local(event),
        messenger ?
          node.messenger.notify(event).pipe(
            Effect.catch((error) => Effect.sync(() => {
              if (error.code === "Unimplemented" || error.reason === "the node gave no server_addr") messenger = false
            })),
            Effect.forkDetach,
            Effect.asVoid
          ) :
          Effect.void
      )
  }

  // Uninterruptible but for the database dial and the VM's initialize: a cancelled call
  // still leaves the session in a consistent state with nothing left open.
  const initialize = (request: Parameters<SessionService["initialize"]>[0]) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const current = yield* Ref.get(session.state)
        if (current._tag === "ShutDown") return yield* new Closed()
        if (current._tag !== "New") {
          return yield* Effect.fail(rpcError("the vm is already initialized", Code.FailedPrecondition))
        }
        if (request.dbServerAddr === "") {
          return yield* Effect.fail(
            rpcError("Initialize needs db_server_addr (the node's rpcdb server)", Code.InvalidArgument)
          )
        }
        yield* Ref.set(session.state, Session.Initializing)
        // The session scope holds the database connection and whatever the VM acquires in
        // initialize; it closes at Shutdown (VM resources first, the database last).
        const scope = yield* Scope.fork(parts.serverScope)
        const opened = yield* Effect.exit(
          restore(Scope.provide(parts.connectDatabase(request.dbServerAddr), scope)).pipe(
            Effect.mapError((error) =>
              rpcError(`cannot open the database at ${request.dbServerAddr}: ${messageOf(error)}`, Code.Unavailable)
            )
          )
        )
        if (Exit.isFailure(opened)) {
          yield* Ref.set(session.state, Session.New)
          yield* Scope.close(scope, Exit.void)
          return yield* Effect.failCause(opened.cause)
        }
        const database = opened.value
        // Dialled lazily, on the first call; closed with the session.
        const node = yield* NodeClients.make(request.serverAddr, { chainId: request.chainId, networkId: request.networkId }).pipe(
          Scope.provide(scope)
        )
        const context: InitializeContext = {
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
          database,
          dbServerAddr: request.dbServerAddr,
          serverAddr: request.serverAddr,
          node,
          networkUpgrades: Option.fromUndefinedOr(request.networkUpgrades),
          notify: notifyBoth(mailbox.notify, node)
        }
        const initialized = yield* Effect.exit(
          restore(vm.initialize(context).pipe(Scope.provide(scope))).pipe(Effect.flatMap(lastAcceptedResponse))
        )
        if (Exit.isFailure(initialized)) {
          yield* Ref.set(session.state, Session.New)
          yield* Scope.close(scope, Exit.void)
          return yield* Effect.failCause(initialized.cause)
        }
        // Added last, so it runs first: a server stopped without Shutdown still shuts the VM
        // down before its resources and the database go.
        yield* Scope.addFinalizer(
          scope,
          Effect.flatMap(
            Ref.modify(session.state, (now) => [now._tag === "Ready", now._tag === "Ready" ? Session.ShutDown : now]),
            (wasReady) => wasReady ? Effect.ignore(vm.shutdown) : Effect.void
          )
        )
        yield* Ref.set(session.state, { _tag: "Ready", database, scope })
        return initialized.value
      })
    )

  const shutdown = Effect.gen(function*() {
    const previous = yield* Ref.getAndSet(session.state, Session.ShutDown)
    if (previous._tag !== "Ready") return {}
    const vmExit = yield* Effect.exit(vm.shutdown)
    yield* Scope.close(previous.scope, Exit.void)
    blocks.clear()
    if (Exit.isFailure(vmExit)) return yield* Effect.failCause(vmExit.cause)
    return {}
  })

  return {
    initialize: handle("Initialize", { locked: true, ready: false }, initialize),

    setState: handle("SetState", { locked: true }, (request) =>
      Effect.gen(function*() {
        const state = yield* vmStateOf(request.state)
        yield* vm.setState(state)
        const id = yield* requireId(yield* vm.lastAccepted, "the vm's last accepted id")
        return yield* lastAcceptedResponse(yield* blocks.find(id))
      })),

    // Marked received as soon as the call arrives (before waiting for the consensus lock), as
    // upstream allows a stop first: a SIGTERM that follows is then obeyed even if a VM call
    // still holds the lock. It also interrupts pending WaitForEvent calls.
    shutdown: handle("Shutdown", { ready: false }, () =>
      Effect.andThen(session.markShutdownReceived, parts.lock.withPermit(Effect.uninterruptible(shutdown)))),

    version: handle("Version", { ready: false }, () =>
      Effect.map(typeof vm.version === "string" ? Effect.succeed(vm.version) : vm.version, (version) => ({ version }))),

    health: handle("Health", {}, () =>
      Effect.gen(function*() {
        const current = yield* session.ready
        const databaseHealth = yield* current.database.health
        const vmHealth = yield* vm.health
        return { details: jsonBytes({ database: databaseHealth, health: vmHealth }) }
      })),

    gather: handle("Gather", { ready: false }, () =>
      Effect.gen(function*() {
        yield* blocks.updateGauges
        const own = yield* Metrics.gather
        const ready = (yield* Ref.get(session.state))._tag === "Ready"
        const extra = vm.gather !== undefined && ready ? yield* vm.gather : []
        return { metricFamilies: Metrics.merge(own, extra) }
      })),

    // Handlers the SDK serves get a gRPC server each, for the rest of the session; asked
    // again (upstream asks once), the session answers with the same servers.
    createHandlers: handle("CreateHandlers", {}, () =>
      Effect.gen(function*() {
        const current = yield* session.ready
        const known = servedHandlers.get(current)
        if (known !== undefined) return { handlers: [...known] }
        const handlers = vm.createHandlers === undefined ? [] : yield* vm.createHandlers
        const served = yield* Effect.forEach(handlers, (h) =>
          HttpHandlers.isServed(h) ?
            Effect.map(Scope.provide(current.scope)(HttpRpcs.serveHandler(h.fetch)), (serverAddr) => ({ prefix: h.prefix, serverAddr })) :
            Effect.succeed({ prefix: h.prefix, serverAddr: h.serverAddr }))
        servedHandlers.set(current, served)
        return { handlers: [...served] }
      })),

    newHTTPHandler: handle("NewHTTPHandler", {}, () =>
      Effect.gen(function*() {
        const current = yield* session.ready
        const known = servedHeaderHandler.get(current)
        if (known !== undefined) return { serverAddr: known }
        const handler = vm.newHttpHandler === undefined ? Option.none() : yield* vm.newHttpHandler
        const serverAddr = Option.isNone(handler) ?
          "" :
          typeof handler.value === "string" ?
          handler.value :
          yield* Scope.provide(current.scope)(HttpRpcs.serveHandler(handler.value))
        servedHeaderHandler.set(current, serverAddr)
        return { serverAddr }
      })),

    waitForEvent: handle("WaitForEvent", {}, () =>
      Effect.gen(function*() {
        const event = yield* Effect.raceFirst(
          vm.waitForEvent ?? mailbox.next,
          session.shutdownReceived.pipe(Effect.andThen(Effect.fail(new Closed())))
        )
        return { message: VmEnums.vmEvent.toProto(event) }
      }))
  }
}
