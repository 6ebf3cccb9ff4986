/**
 * The server at a chain VM's `server_addr`: the node services a VM calls back, each backed by
 * an Effect service the embedding node provides (its own networking, validator view, keys):
 * `aliasreader.AliasReader` (ChainAliases), `validatorstate.ValidatorState` (ValidatorSet),
 * `warp.Signer` (WarpSigner), `appsender.AppSender` (AppNetwork), `sharedmemory.SharedMemory`
 * (SharedMemory), `grpc.health.v1.Health`, and for the luxd flavour `messenger.Messenger`
 * (ChainSignals).
 * Failures travel as the Go nodes send them: gRPC UNKNOWN with the error's text.
 */
import type { DescService } from "@bufbuild/protobuf"
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect"
import { AliasReader } from "@vmre/proto/aliasreader/aliasreader_pb"
import { AppSender } from "@vmre/proto/appsender/appsender_pb"
import { ValidatorState } from "@vmre/proto/validatorstate/validatorstate_pb"
import { Message, Messenger } from "@vmre/proto/messenger/messenger_pb"
import { SharedMemory as SharedMemoryService } from "@vmre/proto/sharedmemory/sharedmemory_pb"
import { Signer } from "@vmre/proto/warp/warp_pb"
import { GrpcServer, Health, Tracing } from "@vmre/transport"
import { Ids, LuxdServices } from "@vmre/wire"
import { Cause, Context, Effect, Exit, type Scope } from "effect"
import { AppNetwork } from "./AppNetwork.ts"
import type { NodeFlavour } from "../NodeFlavour.ts"
import { ChainAliases } from "./ChainAliases.ts"
import { ChainSignals } from "./ChainSignals.ts"
import { SharedMemory } from "./SharedMemory.ts"
import { type Validator, ValidatorSet } from "./ValidatorSet.ts"
import { WarpRefused, WarpSigner } from "./WarpSigner.ts"

/** Who is calling: the chain whose VM this server serves. */
export interface CallerChain {
  readonly chainId: Ids.Id
  readonly networkId: number
  /** luxd's node also serves `messenger.Messenger` (default avalanchego v1.14: it does not). */
  readonly flavour?: NodeFlavour | undefined
}

export type NodeServices = ChainAliases | ValidatorSet | WarpSigner | AppNetwork | SharedMemory | ChainSignals

/** Runs a handler: a typed failure becomes UNKNOWN with its message, a defect INTERNAL. */
const run = <A, E extends { readonly message: string }>(context: Context.Context<NodeServices>, effect: Effect.Effect<A, E, NodeServices>) =>
  Effect.runPromiseExit(Effect.provide(Tracing.inCallSpan(effect), context)).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    const failure = exit.cause.reasons.find(Cause.isFailReason)
    if (failure !== undefined) throw new ConnectError(failure.error.message, Code.Unknown)
    const defect = Cause.squash(exit.cause)
    // A request field the handler refused (INVALID_ARGUMENT) is thrown as it is.
    if (defect instanceof ConnectError) throw defect
    throw new ConnectError(`internal error - ${String(defect)}`, Code.Internal)
  })

const invalid = (field: string, reason: string) => new ConnectError(`invalid ${field}: ${reason}`, Code.InvalidArgument)

const id = (field: string, bytes: Uint8Array): Ids.Id => {
  if (bytes.length !== Ids.ID_LENGTH) throw invalid(field, `${bytes.length} bytes, not ${Ids.ID_LENGTH}`)
  return Ids.Id.make(bytes)
}
const nodeId = (field: string, bytes: Uint8Array): Ids.NodeId => {
  if (bytes.length !== Ids.NODE_ID_LENGTH) throw invalid(field, `${bytes.length} bytes, not ${Ids.NODE_ID_LENGTH}`)
  return Ids.NodeId.make(bytes)
}

const validator = (v: Validator) => ({ nodeId: v.nodeId, weight: v.weight, publicKey: v.publicKey })

/** Warp sets as avalanchego builds them: validators with one key merged, sorted by key; keyless ones only weigh. */
const warpSet = (subnetId: Ids.Id, validators: ReadonlyArray<Validator>) => {
  const byKey = new Map<string, { publicKey: Uint8Array; weight: bigint; nodeIds: Array<Uint8Array> }>()
  let totalWeight = 0n
  for (const v of validators) {
    totalWeight += v.weight
    if (v.publicKey.length === 0) continue
    const key = Ids.toHex(v.publicKey)
    const entry = byKey.get(key) ?? { publicKey: v.publicKey, weight: 0n, nodeIds: [] }
    entry.weight += v.weight
    entry.nodeIds.push(v.nodeId)
    byKey.set(key, entry)
  }
  const sorted = [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v)
  return { subnetId, totalWeight, validators: sorted }
}

/** Registers the node services for `caller` on `router`. */
export const routes = (context: Context.Context<NodeServices>, caller: CallerChain) => (router: ConnectRouter) => {
  // Each call runs in a server span, the child of the VM's call (its traceparent): the
  // handlers are made per call, over a context that carries the span.
  const service = <S extends DescService>(descriptor: S, make: (context: Context.Context<NodeServices>) => Partial<ServiceImpl<S>>) => {
    const impl: Record<string, unknown> = {}
    // The methods served (a flavour may leave some out: they answer UNIMPLEMENTED).
    const served = new Set(Object.keys(make(context)))
    for (const method of descriptor.methods) {
      if (!served.has(method.localName)) continue
      impl[method.localName] = (request: unknown, handler: HandlerContext) => {
        const call = make(Tracing.callContext(context, descriptor.typeName, method.name, Tracing.traceparentOf(handler))) as Record<string, (r: unknown, h: HandlerContext) => unknown>
        return call[method.localName]!(request, handler)
      }
    }
    router.service(descriptor, impl as Partial<ServiceImpl<S>>)
  }
  Health.register(router)
  service(AliasReader, (context) => ({
    lookup: (request) => run(context, Effect.map(Effect.flatMap(ChainAliases, (a) => a.lookup(request.alias)), (found) => ({ id: found }))),
    primaryAlias: (request) =>
      run(context, Effect.map(Effect.flatMap(ChainAliases, (a) => a.primaryAlias(id("id", request.id))), (alias) => ({ alias }))),
    aliases: (request) =>
      run(context, Effect.map(Effect.flatMap(ChainAliases, (a) => a.aliases(id("id", request.id))), (aliases) => ({ aliases: [...aliases] })))
  }))
  // luxd numbers GetCurrentValidatorSet's validator fields 5-7 its own way.
  service(caller.flavour === "luxd" ? LuxdServices.LuxdValidatorState as unknown as typeof ValidatorState : ValidatorState, (context) => ({
    getMinimumHeight: () => run(context, Effect.map(Effect.flatMap(ValidatorSet, (v) => v.minimumHeight), (height) => ({ height }))),
    getCurrentHeight: () => run(context, Effect.map(Effect.flatMap(ValidatorSet, (v) => v.currentHeight), (height) => ({ height }))),
    getSubnetID: (request) =>
      run(context, Effect.map(Effect.flatMap(ValidatorSet, (v) => v.subnetOf(id("chain_id", request.chainId))), (subnetId) => ({ subnetId }))),
    getValidatorSet: (request) =>
      run(
        context,
        Effect.map(
          Effect.flatMap(ValidatorSet, (v) => v.validatorsAt(request.height, id("subnet_id", request.subnetId))),
          (validators) => ({ validators: validators.map(validator) })
        )
      ),
    getCurrentValidatorSet: (request) =>
      run(
        context,
        Effect.map(Effect.flatMap(ValidatorSet, (v) => v.currentValidators(id("subnet_id", request.subnetId))), (current) => ({
          currentHeight: current.height,
          validators: current.validators.map((v, i) => ({
            ...validator(v),
            isActive: true,
            // The client keys its map by validation id: one distinct 32-byte id per validator.
            validationId: Ids.sha256(new Uint8Array([...v.nodeId, i]))
          }))
        }))
      ),
    getWarpValidatorSets: (request) =>
      run(
        context,
        Effect.map(Effect.flatMap(ValidatorSet, (v) => v.warpSets(request.height)), (sets) => ({
          validatorSets: sets.map((set) => warpSet(set.subnetId, set.validators))
        }))
      )
  }))
  service(Signer, (context) => ({
    sign: (request) =>
      run(
        context,
        Effect.gen(function*() {
          if (!Ids.equals(request.sourceChainId, caller.chainId)) return yield* new WarpRefused({ reason: "wrong SourceChainID" })
          if (request.networkId !== caller.networkId) return yield* new WarpRefused({ reason: "wrong networkID" })
          const signer = yield* WarpSigner
          const signature = yield* signer.sign({
            networkId: request.networkId,
            sourceChainId: request.sourceChainId,
            payload: request.payload
          })
          return { signature }
        })
      )
  }))
  service(SharedMemoryService, (context) => ({
    get: (request) =>
      run(context, Effect.map(
        Effect.flatMap(SharedMemory, (memory) => memory.get(caller.chainId, id("peer_chain_id", request.peerChainId), request.keys)),
        (values) => ({ values: [...values] })
      )),
    indexed: (request) =>
      run(context, Effect.map(
        Effect.flatMap(SharedMemory, (memory) =>
          memory.indexed(caller.chainId, id("peer_chain_id", request.peerChainId), {
            traits: request.traits,
            startTrait: request.startTrait,
            startKey: request.startKey,
            limit: request.limit
          })),
        (page) => ({ values: [...page.values], lastTrait: page.lastTrait, lastKey: page.lastKey })
      )),
    apply: (request) =>
      run(context, Effect.as(
        Effect.flatMap(SharedMemory, (memory) =>
          memory.apply(
            caller.chainId,
            request.requests.map((r) => ({
              peerChainId: id("peer_chain_id", r.peerChainId),
              removes: r.removeRequests,
              puts: r.putRequests.map((e) => ({ key: e.key, value: e.value, traits: e.traits }))
            })),
            request.batches.map((b) => ({ puts: b.puts.map((p) => ({ key: p.key, value: p.value })), deletes: b.deletes.map((d) => d.key) }))
          )),
        {}
      ))
  }))
  if (caller.flavour === "luxd") {
    service(Messenger, (context) => ({
      notify: (request) => {
        const event = request.message === Message.BUILD_BLOCK ?
          "BuildBlock" as const :
          request.message === Message.STATE_SYNC_FINISHED ?
          "StateSyncFinished" as const :
          undefined
        if (event === undefined) throw invalid("message", `${request.message} is not a message the engine knows`)
        return run(context, Effect.as(Effect.flatMap(ChainSignals, (signals) => signals.notify(caller.chainId, event)), {}))
      }
    }))
  }
  const sendWith = (context: Context.Context<NodeServices>) => (message: Parameters<AppNetwork["Service"]["send"]>[0]) =>
    run(context, Effect.as(Effect.flatMap(AppNetwork, (network) => network.send(message)), {}))
  service(AppSender, (context) => {
    const send = sendWith(context)
    return {
      sendAppRequest: (r) =>
        send({ _tag: "AppRequest", chainId: caller.chainId, nodeIds: r.nodeIds.map((n) => nodeId("node_ids", n)), requestId: r.requestId, request: r.request }),
      sendAppResponse: (r) =>
        send({ _tag: "AppResponse", chainId: caller.chainId, nodeId: nodeId("node_id", r.nodeId), requestId: r.requestId, response: r.response }),
      sendAppError: (r) =>
        send({
          _tag: "AppError",
          chainId: caller.chainId,
          nodeId: nodeId("node_id", r.nodeId),
          requestId: r.requestId,
          errorCode: r.errorCode,
          errorMessage: r.errorMessage
        }),
      sendAppGossip: (r) =>
        send({
          _tag: "AppGossip",
          chainId: caller.chainId,
          nodeIds: r.nodeIds.map((n) => nodeId("node_ids", n)),
          validators: r.validators,
          nonValidators: r.nonValidators,
          peers: r.peers,
          message: r.msg
        }),
      // luxd's cross-chain messages; avalanchego v1.14 has none (UNIMPLEMENTED, as there).
      ...(caller.flavour === "luxd" ?
        {
          sendCrossChainAppRequest: (r) =>
            send({ _tag: "CrossChainAppRequest", chainId: caller.chainId, targetChainId: id("chain_id", r.chainId), requestId: r.requestId, request: r.request }),
          sendCrossChainAppResponse: (r) =>
            send({ _tag: "CrossChainAppResponse", chainId: caller.chainId, targetChainId: id("chain_id", r.chainId), requestId: r.requestId, response: r.response }),
          sendCrossChainAppError: (r) =>
            send({
              _tag: "CrossChainAppError",
              chainId: caller.chainId,
              targetChainId: id("chain_id", r.chainId),
              requestId: r.requestId,
              errorCode: r.errorCode,
              errorMessage: r.errorMessage
            })
        } :
        {})
    } satisfies Partial<ServiceImpl<typeof AppSender>>
  })
}

/** Serves the node services for one chain's VM on `127.0.0.1:0` until the scope closes. */
export const serve = (
  caller: CallerChain
): Effect.Effect<GrpcServer.GrpcServer, GrpcServer.ServerListenError, Scope.Scope | NodeServices> =>
  Effect.flatMap(Effect.context<NodeServices>(), (context) => GrpcServer.serve(routes(context, caller)))
