/**
 * Where a VM's app messages go (avalanchego's `common.AppSender`, served to VMs as
 * `appsender.AppSender`): requests, responses, errors and gossip to other nodes. A node plugs
 * in its networking. Two implementations ship: `layerRecording` keeps what was sent (a single
 * node has no peers), and `layerLocal` delivers between the nodes of one host (several node
 * stacks sharing an `AppHub`), so that VMs on one machine can talk.
 */
import type {
  AppGossip,
  AppRequest,
  AppRequestFailed,
  AppResponse,
  CrossChainAppRequest,
  CrossChainAppRequestFailed,
  CrossChainAppResponse
} from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Context, DateTime, Effect, Layer, Ref, type Scope } from "effect"
import { NodeConfig } from "../NodeConfig.ts"

export type AppMessage =
  | { readonly _tag: "AppRequest"; readonly chainId: Ids.Id; readonly nodeIds: ReadonlyArray<Ids.NodeId>; readonly requestId: number; readonly request: Uint8Array }
  | { readonly _tag: "AppResponse"; readonly chainId: Ids.Id; readonly nodeId: Ids.NodeId; readonly requestId: number; readonly response: Uint8Array }
  | {
    readonly _tag: "AppError"
    readonly chainId: Ids.Id
    readonly nodeId: Ids.NodeId
    readonly requestId: number
    readonly errorCode: number
    readonly errorMessage: string
  }
  | {
    readonly _tag: "AppGossip"
    readonly chainId: Ids.Id
    readonly nodeIds: ReadonlyArray<Ids.NodeId>
    readonly validators: bigint
    readonly nonValidators: bigint
    readonly peers: bigint
    readonly message: Uint8Array
  }
  // luxd: between two chains of this node; `chainId` is the sender's chain.
  | { readonly _tag: "CrossChainAppRequest"; readonly chainId: Ids.Id; readonly targetChainId: Ids.Id; readonly requestId: number; readonly request: Uint8Array }
  | { readonly _tag: "CrossChainAppResponse"; readonly chainId: Ids.Id; readonly targetChainId: Ids.Id; readonly requestId: number; readonly response: Uint8Array }
  | {
    readonly _tag: "CrossChainAppError"
    readonly chainId: Ids.Id
    readonly targetChainId: Ids.Id
    readonly requestId: number
    readonly errorCode: number
    readonly errorMessage: string
  }

/** What a chain's VM receives from the network: the app calls of its `vm.VM` client. */
export interface AppEndpoint {
  readonly appRequest: (request: AppRequest) => Effect.Effect<void, unknown>
  readonly appResponse: (response: AppResponse) => Effect.Effect<void, unknown>
  readonly appRequestFailed: (failure: AppRequestFailed) => Effect.Effect<void, unknown>
  readonly appGossip: (gossip: AppGossip) => Effect.Effect<void, unknown>
  /** luxd: messages from another chain of this node. */
  readonly crossChainAppRequest?: ((request: CrossChainAppRequest) => Effect.Effect<void, unknown>) | undefined
  readonly crossChainAppResponse?: ((response: CrossChainAppResponse) => Effect.Effect<void, unknown>) | undefined
  readonly crossChainAppRequestFailed?: ((failure: CrossChainAppRequestFailed) => Effect.Effect<void, unknown>) | undefined
}

export interface AppNetworkShape {
  readonly send: (message: AppMessage) => Effect.Effect<void>
  /** What was sent so far (kept by both shipped implementations, at most 10,000 messages). */
  readonly sent: Effect.Effect<ReadonlyArray<AppMessage>>
  /** The factory joins each chain's VM, to receive its peers' messages until the scope closes. */
  readonly join: (chainId: Ids.Id, endpoint: AppEndpoint) => Effect.Effect<void, never, Scope.Scope>
}

/** The nodes of one host, by (node id, chain id): what `layerLocal` delivers through. */
export class AppHub extends Context.Service<AppHub, {
  readonly endpoints: Map<string, { readonly nodeId: Ids.NodeId; readonly chainId: Ids.Id; readonly endpoint: AppEndpoint }>
}>()("@vmre/node/AppHub") {
  static readonly layer: Layer.Layer<AppHub> = Layer.sync(AppHub, () => ({ endpoints: new Map() }))
}

const keyOf = (nodeId: Uint8Array, chainId: Uint8Array) => `${Ids.toHex(nodeId)}/${Ids.toHex(chainId)}`

// How long a delivered request's answer may take, as its deadline tells the receiving VM.
const REQUEST_DEADLINE_MILLIS = 10_000

const recorder = (limit: number) =>
  Effect.map(Ref.make<ReadonlyArray<AppMessage>>([]), (log) => ({
    record: (message: AppMessage) => Ref.update(log, (all) => (all.length >= limit ? [...all.slice(1), message] : [...all, message])),
    sent: Ref.get(log)
  }))

export class AppNetwork extends Context.Service<AppNetwork, AppNetworkShape>()("@vmre/node/AppNetwork") {
  /** Keeps every message sent, in order (at most `limit`, default 10,000: older ones are dropped). */
  static readonly layerRecording = (limit = 10_000): Layer.Layer<AppNetwork> =>
    Layer.effect(
      AppNetwork,
      Effect.map(recorder(limit), ({ record, sent }) => ({ send: record, sent, join: () => Effect.void }))
    )

  /**
   * Delivers between the nodes of one host that share the `AppHub`: a request to a node of the
   * chain reaches its VM's AppRequest (deadline 10 s), the answer or error comes back to the
   * requester's AppResponse / AppRequestFailed, and a request to a node that is not there fails
   * at once with AppRequestFailed{-1, "timed out"}, as upstream reports an unsent request.
   * Gossip reaches the listed nodes and up to validators + non-validators + peers others of the
   * chain. Delivery runs beside the sender's call, never inside it. luxd's cross-chain messages
   * go between the chains of this node the same way (a request to a chain that is not running
   * fails at once with CrossChainAppRequestFailed{-1, "timed out"}).
   */
  static readonly layerLocal = (limit = 10_000): Layer.Layer<AppNetwork, never, AppHub | NodeConfig> =>
    Layer.effect(
      AppNetwork,
      Effect.gen(function*() {
        const hub = yield* AppHub
        const self = (yield* NodeConfig).nodeId
        const scope = yield* Effect.scope
        const { record, sent } = yield* recorder(limit)
        const endpointOf = (nodeId: Uint8Array, chainId: Uint8Array) => hub.endpoints.get(keyOf(nodeId, chainId))?.endpoint
        const deliver = (effect: Effect.Effect<void, unknown>) =>
          effect.pipe(
            Effect.catchCause((cause) => Effect.logDebug("app message not delivered", cause)),
            Effect.forkIn(scope),
            Effect.asVoid
          )
        const send = (message: AppMessage): Effect.Effect<void> =>
          Effect.gen(function*() {
            yield* record(message)
            const own = endpointOf(self, message.chainId)
            switch (message._tag) {
              case "AppRequest": {
                const deadline = DateTime.makeUnsafe((yield* DateTime.now).epochMilliseconds + REQUEST_DEADLINE_MILLIS)
                for (const target of message.nodeIds) {
                  const peer = endpointOf(target, message.chainId)
                  if (peer !== undefined) {
                    yield* deliver(peer.appRequest({ nodeId: self, requestId: message.requestId, deadline, request: message.request }))
                  } else if (own !== undefined) {
                    yield* deliver(own.appRequestFailed({ nodeId: Ids.NodeId.make(target), requestId: message.requestId, errorCode: -1, errorMessage: "timed out" }))
                  }
                }
                return
              }
              case "AppResponse": {
                const peer = endpointOf(message.nodeId, message.chainId)
                if (peer !== undefined) yield* deliver(peer.appResponse({ nodeId: self, requestId: message.requestId, response: message.response }))
                return
              }
              case "AppError": {
                const peer = endpointOf(message.nodeId, message.chainId)
                if (peer !== undefined) {
                  yield* deliver(peer.appRequestFailed({
                    nodeId: self,
                    requestId: message.requestId,
                    errorCode: message.errorCode,
                    errorMessage: message.errorMessage
                  }))
                }
                return
              }
              case "CrossChainAppRequest": {
                const deadline = DateTime.makeUnsafe((yield* DateTime.now).epochMilliseconds + REQUEST_DEADLINE_MILLIS)
                const target = endpointOf(self, message.targetChainId)?.crossChainAppRequest
                if (target !== undefined) {
                  yield* deliver(target({ chainId: message.chainId, requestId: message.requestId, deadline, request: message.request }))
                } else {
                  const failed = own?.crossChainAppRequestFailed
                  if (failed !== undefined) {
                    yield* deliver(failed({ chainId: message.targetChainId, requestId: message.requestId, errorCode: -1, errorMessage: "timed out" }))
                  }
                }
                return
              }
              case "CrossChainAppResponse": {
                const target = endpointOf(self, message.targetChainId)?.crossChainAppResponse
                if (target !== undefined) yield* deliver(target({ chainId: message.chainId, requestId: message.requestId, response: message.response }))
                return
              }
              case "CrossChainAppError": {
                const target = endpointOf(self, message.targetChainId)?.crossChainAppRequestFailed
                if (target !== undefined) {
                  yield* deliver(target({
                    chainId: message.chainId,
                    requestId: message.requestId,
                    errorCode: message.errorCode,
                    errorMessage: message.errorMessage
                  }))
                }
                return
              }
              case "AppGossip": {
                const chainKey = Ids.toHex(message.chainId)
                const named = new Set(message.nodeIds.map((n) => Ids.toHex(n)))
                let others = Number(message.validators + message.nonValidators + message.peers)
                for (const member of hub.endpoints.values()) {
                  if (Ids.toHex(member.chainId) !== chainKey || Ids.equals(member.nodeId, self)) continue
                  const listed = named.has(Ids.toHex(member.nodeId))
                  if (!listed && others <= 0) continue
                  if (!listed) others--
                  yield* deliver(member.endpoint.appGossip({ nodeId: self, msg: message.message }))
                }
                return
              }
            }
          })
        return {
          send,
          sent,
          join: (chainId, endpoint) =>
            Effect.acquireRelease(
              Effect.sync(() => hub.endpoints.set(keyOf(self, chainId), { nodeId: self, chainId, endpoint })),
              () => Effect.sync(() => hub.endpoints.delete(keyOf(self, chainId)))
            ).pipe(Effect.asVoid)
        }
      })
    )
}
