/**
 * The VM's clients of the node services at `server_addr` (`InitializeContext.node`): send app
 * messages to peers, read validators and heights, resolve chain aliases, have the node sign a
 * warp message, use atomic cross-chain memory. One connection shared by all of them, as upstream VMs dial it; each call is
 * an Effect bounded by its own timeout, cancelled (over gRPC) when interrupted, failing with
 * `NodeServiceError` whose `reason` is the node's answer.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { AliasReader } from "@vmre/proto/aliasreader/aliasreader_pb"
import { AppSender } from "@vmre/proto/appsender/appsender_pb"
import { ValidatorState } from "@vmre/proto/validatorstate/validatorstate_pb"
import { Message, Messenger } from "@vmre/proto/messenger/messenger_pb"
import { SharedMemory } from "@vmre/proto/sharedmemory/sharedmemory_pb"
import { Signer } from "@vmre/proto/warp/warp_pb"
import { GrpcClient, Tracing } from "@vmre/transport"
import { Duration, Effect, Schema, type Scope } from "effect"

/** A node service call failed: `code` is the gRPC status name, `reason` the node's text. */
export class NodeServiceError extends Schema.TaggedError<NodeServiceError>()("NodeServiceError", {
  service: Schema.String,
  method: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.service}/${this.method} failed (${this.code}): ${this.reason}`
  }
}

export interface Validator {
  readonly nodeId: Uint8Array
  readonly weight: bigint
  /** Uncompressed BLS public key (96 bytes), or empty. */
  readonly publicKey: Uint8Array
}

export interface WarpValidatorSet {
  readonly subnetId: Uint8Array
  readonly totalWeight: bigint
  readonly validators: ReadonlyArray<{ readonly publicKey: Uint8Array; readonly weight: bigint; readonly nodeIds: ReadonlyArray<Uint8Array> }>
}

export interface GossipTargets {
  readonly nodeIds?: ReadonlyArray<Uint8Array>
  readonly validators?: number
  readonly nonValidators?: number
  readonly peers?: number
}

type Call<A> = Effect.Effect<A, NodeServiceError>

export interface NodeClients {
  readonly appSender: {
    readonly sendAppRequest: (nodeIds: ReadonlyArray<Uint8Array>, requestId: number, request: Uint8Array) => Call<void>
    readonly sendAppResponse: (nodeId: Uint8Array, requestId: number, response: Uint8Array) => Call<void>
    readonly sendAppError: (nodeId: Uint8Array, requestId: number, errorCode: number, errorMessage: string) => Call<void>
    readonly sendAppGossip: (message: Uint8Array, targets?: GossipTargets) => Call<void>
    /** luxd: to the VM of another chain of this node (avalanchego v1.14 answers UNIMPLEMENTED). */
    readonly sendCrossChainAppRequest: (chainId: Uint8Array, requestId: number, request: Uint8Array) => Call<void>
    readonly sendCrossChainAppResponse: (chainId: Uint8Array, requestId: number, response: Uint8Array) => Call<void>
    readonly sendCrossChainAppError: (chainId: Uint8Array, requestId: number, errorCode: number, errorMessage: string) => Call<void>
  }
  readonly validators: {
    readonly currentHeight: Call<bigint>
    readonly minimumHeight: Call<bigint>
    readonly subnetOf: (chainId: Uint8Array) => Call<Uint8Array>
    readonly validatorSet: (height: bigint, subnetId: Uint8Array) => Call<ReadonlyArray<Validator>>
    readonly currentValidatorSet: (subnetId: Uint8Array) => Call<{ readonly validators: ReadonlyArray<Validator>; readonly height: bigint }>
    readonly warpValidatorSets: (height: bigint) => Call<ReadonlyArray<WarpValidatorSet>>
  }
  readonly aliases: {
    readonly lookup: (alias: string) => Call<Uint8Array>
    readonly primaryAlias: (chainId: Uint8Array) => Call<string>
    readonly aliases: (chainId: Uint8Array) => Call<ReadonlyArray<string>>
  }
  /**
   * luxd's build signal (`messenger.Messenger/Notify`); a node that serves no messenger
   * (avalanchego v1.14 serves none, its engine asks through WaitForEvent) fails it with
   * Unimplemented, and a pending signal makes it fail with "full message queue".
   */
  readonly messenger: {
    readonly notify: (event: "BuildBlock" | "StateSyncFinished") => Call<void>
  }
  readonly warpSigner: {
    /** The node's BLS signature (96 bytes) of the unsigned warp message of this chain carrying `payload`. */
    readonly sign: (payload: Uint8Array) => Call<Uint8Array>
  }
  /** Atomic cross-chain memory: what a peer chain put for this one, and atomic puts/removes. */
  readonly sharedMemory: {
    /** The values the peer put for this chain under `keys` (fails with "not found" if one is missing). */
    readonly get: (peerChainId: Uint8Array, keys: ReadonlyArray<Uint8Array>) => Call<ReadonlyArray<Uint8Array>>
    readonly indexed: (peerChainId: Uint8Array, query: {
      readonly traits: ReadonlyArray<Uint8Array>
      readonly startTrait?: Uint8Array
      readonly startKey?: Uint8Array
      readonly limit: number
    }) => Call<{ readonly values: ReadonlyArray<Uint8Array>; readonly lastTrait: Uint8Array; readonly lastKey: Uint8Array }>
    /** All or nothing: per peer, consume what it put (`removes`) and put for it; plus this chain's database writes. */
    readonly apply: (
      requests: ReadonlyArray<{
        readonly peerChainId: Uint8Array
        readonly removes?: ReadonlyArray<Uint8Array>
        readonly puts?: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array; readonly traits?: ReadonlyArray<Uint8Array> }>
      }>,
      batch?: { readonly puts?: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>; readonly deletes?: ReadonlyArray<Uint8Array> }
    ) => Call<void>
  }
}

export interface NodeClientsOptions {
  /** Bound on each call (default 30 s). */
  readonly callTimeout?: Duration.Input
}

/** Clients of the node at `serverAddr`, for the chain `chainId` on `networkId`; closed with the scope. */
export const make = (
  serverAddr: string,
  chain: { readonly chainId: Uint8Array; readonly networkId: number },
  options: NodeClientsOptions = {}
): Effect.Effect<NodeClients, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.callTimeout ?? Duration.seconds(30)))
    const noServer = (service: string, method: string) =>
      Effect.fail(new NodeServiceError({ service, method, code: "Unavailable", reason: "the node gave no server_addr" }))
    const transport = serverAddr === "" ? undefined : (yield* GrpcClient.transport(serverAddr)).transport
    // Each call a client span whose traceparent the node's server continues.
    const call = <A>(
      service: string,
      method: string,
      f: (options: { signal: AbortSignal; timeoutMs: number; headers: Record<string, string> }) => Promise<A>
    ): Call<A> =>
      transport === undefined ?
        noServer(service, method) :
        Tracing.client(service, method, (headers) =>
          Effect.tryPromise({
            try: (signal) => f({ signal, timeoutMs, headers }),
            catch: (error) => {
              const e = ConnectError.from(error)
              return new NodeServiceError({ service, method, code: Code[e.code], reason: e.rawMessage })
            }
          }))
    // Clients over a transport that may be missing: every call then fails with noServer.
    const appSender = transport && createClient(AppSender, transport)
    const validators = transport && createClient(ValidatorState, transport)
    const aliases = transport && createClient(AliasReader, transport)
    const signer = transport && createClient(Signer, transport)
    const shared = transport && createClient(SharedMemory, transport)
    const messenger = transport && createClient(Messenger, transport)
    const A = "appsender.AppSender", V = "validatorstate.ValidatorState", R = "aliasreader.AliasReader", W = "warp.Signer"
    const S = "sharedmemory.SharedMemory"
    const validator = (v: { nodeId: Uint8Array; weight: bigint; publicKey: Uint8Array }): Validator => ({
      nodeId: v.nodeId,
      weight: v.weight,
      publicKey: v.publicKey
    })
    return {
      appSender: {
        sendAppRequest: (nodeIds, requestId, request) =>
          Effect.asVoid(call(A, "SendAppRequest", (o) => appSender!.sendAppRequest({ nodeIds: [...nodeIds], requestId, request }, o))),
        sendAppResponse: (nodeId, requestId, response) =>
          Effect.asVoid(call(A, "SendAppResponse", (o) => appSender!.sendAppResponse({ nodeId, requestId, response }, o))),
        sendAppError: (nodeId, requestId, errorCode, errorMessage) =>
          Effect.asVoid(call(A, "SendAppError", (o) => appSender!.sendAppError({ nodeId, requestId, errorCode, errorMessage }, o))),
        sendAppGossip: (msg, targets = {}) =>
          Effect.asVoid(call(A, "SendAppGossip", (o) =>
            appSender!.sendAppGossip({
              nodeIds: [...(targets.nodeIds ?? [])],
              validators: BigInt(targets.validators ?? 0),
              nonValidators: BigInt(targets.nonValidators ?? 0),
              peers: BigInt(targets.peers ?? 0),
              msg
            }, o))),
        sendCrossChainAppRequest: (chainId, requestId, request) =>
          Effect.asVoid(call(A, "SendCrossChainAppRequest", (o) => appSender!.sendCrossChainAppRequest({ chainId, requestId, request }, o))),
        sendCrossChainAppResponse: (chainId, requestId, response) =>
          Effect.asVoid(call(A, "SendCrossChainAppResponse", (o) => appSender!.sendCrossChainAppResponse({ chainId, requestId, response }, o))),
        sendCrossChainAppError: (chainId, requestId, errorCode, errorMessage) =>
          Effect.asVoid(call(A, "SendCrossChainAppError", (o) =>
            appSender!.sendCrossChainAppError({ chainId, requestId, errorCode, errorMessage }, o)))
      },
      validators: {
        currentHeight: Effect.map(call(V, "GetCurrentHeight", (o) => validators!.getCurrentHeight({}, o)), (r) => r.height),
        minimumHeight: Effect.map(call(V, "GetMinimumHeight", (o) => validators!.getMinimumHeight({}, o)), (r) => r.height),
        subnetOf: (chainId) => Effect.map(call(V, "GetSubnetID", (o) => validators!.getSubnetID({ chainId }, o)), (r) => r.subnetId),
        validatorSet: (height, subnetId) =>
          Effect.map(call(V, "GetValidatorSet", (o) => validators!.getValidatorSet({ height, subnetId }, o)), (r) => r.validators.map(validator)),
        currentValidatorSet: (subnetId) =>
          Effect.map(
            call(V, "GetCurrentValidatorSet", (o) => validators!.getCurrentValidatorSet({ subnetId }, o)),
            (r) => ({ validators: r.validators.map(validator), height: r.currentHeight })
          ),
        warpValidatorSets: (height) =>
          Effect.map(
            call(V, "GetWarpValidatorSets", (o) => validators!.getWarpValidatorSets({ height }, o)),
            (r) => r.validatorSets.map((set) => ({ subnetId: set.subnetId, totalWeight: set.totalWeight, validators: set.validators }))
          )
      },
      aliases: {
        lookup: (alias) => Effect.map(call(R, "Lookup", (o) => aliases!.lookup({ alias }, o)), (r) => r.id),
        primaryAlias: (id) => Effect.map(call(R, "PrimaryAlias", (o) => aliases!.primaryAlias({ id }, o)), (r) => r.alias),
        aliases: (id) => Effect.map(call(R, "Aliases", (o) => aliases!.aliases({ id }, o)), (r) => r.aliases)
      },
      warpSigner: {
        sign: (payload) =>
          Effect.map(
            call(W, "Sign", (o) => signer!.sign({ networkId: chain.networkId, sourceChainId: chain.chainId, payload }, o)),
            (r) => r.signature
          )
      },
      messenger: {
        notify: (event) =>
          Effect.asVoid(call("messenger.Messenger", "Notify", (o) =>
            messenger!.notify({ message: event === "BuildBlock" ? Message.BUILD_BLOCK : Message.STATE_SYNC_FINISHED }, o)))
      },
      sharedMemory: {
        get: (peerChainId, keys) => Effect.map(call(S, "Get", (o) => shared!.get({ peerChainId, keys: [...keys] }, o)), (r) => r.values),
        indexed: (peerChainId, query) =>
          Effect.map(
            call(S, "Indexed", (o) =>
              shared!.indexed({
                peerChainId,
                traits: [...query.traits],
                startTrait: query.startTrait ?? new Uint8Array(0),
                startKey: query.startKey ?? new Uint8Array(0),
                limit: query.limit
              }, o)),
            (r) => ({ values: r.values, lastTrait: r.lastTrait, lastKey: r.lastKey })
          ),
        apply: (requests, batch) =>
          Effect.asVoid(call(S, "Apply", (o) =>
            shared!.apply({
              requests: requests.map((r) => ({
                peerChainId: r.peerChainId,
                removeRequests: [...(r.removes ?? [])],
                putRequests: (r.puts ?? []).map((e) => ({ key: e.key, value: e.value, traits: [...(e.traits ?? [])] }))
              })),
              batches: batch === undefined ? [] : [{
                puts: (batch.puts ?? []).map((p) => ({ key: p.key, value: p.value })),
                deletes: (batch.deletes ?? []).map((key) => ({ key }))
              }]
            }, o)))
      }
    } satisfies NodeClients
  })
