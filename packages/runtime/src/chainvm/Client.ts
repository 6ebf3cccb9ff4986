/**
 * The typed client of a plugin's `vm.VM` service: its interface, and the client made of the
 * engine calls below and the block, message and state-sync calls of their own modules.
 */
import { create } from "@bufbuild/protobuf"
import type { MetricFamily as PbMetricFamily } from "@vmre/proto/io/prometheus/client/metrics_pb"
import * as pb from "@vmre/proto/vm/vm_pb"
import { type Ids, VmEnums } from "@vmre/wire"
import { type DateTime, Effect, Option, Result } from "effect"
import type { VmKnownError } from "../Errors.ts"
import { blockCalls } from "./BlockCalls.ts"
import { type Call, type Caller, type ClientParts, makeCaller } from "./Call.ts"
import { bytes, readLastAccepted, sendId, sendNodeId, sendState, sendUpgrades, uint32 } from "./Codec.ts"
import { messageCalls } from "./MessageCalls.ts"
import { readMetricFamilies } from "./Metrics.ts"
import { stateSyncCalls } from "./StateSyncCalls.ts"
import type {
  AppGossip,
  AppRequest,
  AppRequestFailed,
  AppResponse,
  Block,
  BlockContextOptions,
  CrossChainAppRequest,
  CrossChainAppRequestFailed,
  CrossChainAppResponse,
  GetAncestorsParams,
  HttpHandler,
  InitializeParams,
  LastAccepted,
  MetricFamily,
  PeerVersion,
  StateSummary,
  StateSyncMode,
  VmEvent,
  VmState
} from "./Values.ts"

type Id = Ids.Id
type NodeId = Ids.NodeId

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

const initializeRequest = (params: InitializeParams) =>
  Result.gen(function*() {
    return create(pb.InitializeRequestSchema, {
      networkId: yield* uint32("network_id", params.networkId),
      subnetId: yield* sendId("subnet_id", params.subnetId),
      chainId: yield* sendId("chain_id", params.chainId),
      nodeId: yield* sendNodeId("node_id", params.nodeId),
      publicKey: yield* bytes("public_key", params.publicKey),
      xChainId: yield* sendId("x_chain_id", params.xChainId),
      cChainId: yield* sendId("c_chain_id", params.cChainId),
      avaxAssetId: yield* sendId("avax_asset_id", params.avaxAssetId),
      chainDataDir: params.chainDataDir,
      genesisBytes: yield* bytes("genesis_bytes", params.genesisBytes),
      upgradeBytes: yield* bytes("upgrade_bytes", params.upgradeBytes),
      configBytes: yield* bytes("config_bytes", params.configBytes),
      dbServerAddr: params.dbServerAddr,
      serverAddr: params.serverAddr,
      ...(params.networkUpgrades === undefined ? {} : { networkUpgrades: yield* sendUpgrades(params.networkUpgrades) })
    })
  })

const readHealth = (details: Uint8Array): Result.Result<unknown, string> => {
  if (details.length === 0) return Result.succeed(null)
  try {
    return Result.succeed(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(details)))
  } catch (error) {
    return Result.fail(`details are not JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** Initialize, SetState, Shutdown, handlers, events, health, version and metrics. */
const engineCalls = ({ decode, encode, invoke, raw }: Caller) => {
  const gatherRaw = Effect.fnUntraced(function*() {
    const response = yield* invoke("Gather", (o) => raw.gather({}, o))
    return response.metricFamilies
  })
  return {
    initialize: Effect.fnUntraced(function*(params: InitializeParams) {
      const request = yield* encode("Initialize", initializeRequest(params))
      const response = yield* invoke("Initialize", (o) => raw.initialize(request, o))
      return yield* decode("Initialize", readLastAccepted(response))
    }),

    setState: Effect.fnUntraced(function*(state: VmState) {
      const wire = yield* encode("SetState", sendState(state))
      const response = yield* invoke("SetState", (o) => raw.setState({ state: wire }, o))
      return yield* decode("SetState", readLastAccepted(response))
    }),

    shutdown: Effect.fnUntraced(function*() {
      yield* invoke("Shutdown", (o) => raw.shutdown({}, o))
    }),

    createHandlers: Effect.fnUntraced(function*() {
      const response = yield* invoke("CreateHandlers", (o) => raw.createHandlers({}, o))
      return response.handlers.map((h): HttpHandler => ({ prefix: h.prefix, serverAddr: h.serverAddr }))
    }),

    newHttpHandler: Effect.fnUntraced(function*() {
      const response = yield* invoke("NewHTTPHandler", (o) => raw.newHTTPHandler({}, o))
      return response.serverAddr === "" ? Option.none<string>() : Option.some(response.serverAddr)
    }),

    waitForEvent: Effect.fnUntraced(function*() {
      const response = yield* invoke("WaitForEvent", (o) => raw.waitForEvent({}, o))
      return yield* decode(
        "WaitForEvent",
        Result.mapError(VmEnums.vmEvent.fromProto(response.message), (u) => `unknown message value ${u.value}`)
      )
    }),

    health: Effect.fnUntraced(function*() {
      const response = yield* invoke("Health", (o) => raw.health({}, o), false)
      return yield* decode("Health", readHealth(response.details))
    }),

    version: Effect.fnUntraced(function*() {
      const response = yield* invoke("Version", (o) => raw.version({}, o))
      return response.version
    }),

    gatherRaw,

    gather: Effect.fnUntraced(function*() {
      const families = yield* gatherRaw()
      return yield* decode("Gather", readMetricFamilies(families))
    })
  }
}

export const makeClient = (parts: ClientParts): ChainVmClient => {
  const caller = makeCaller(parts)
  return {
    ...engineCalls(caller),
    ...blockCalls(caller),
    ...messageCalls(caller),
    ...stateSyncCalls(caller)
  }
}
