/**
 * The values of the host's `vm.VM` client API: ids as validated {@link Id}s, heights as
 * `bigint`, instants as `DateTime`, durations as `Duration`.
 */
import type { Ids, VmEnums } from "@vmre/wire"
import type { DateTime, Duration } from "effect"

type Id = Ids.Id
type NodeId = Ids.NodeId

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

// One spelling with the SDK: the wire contract's.
/** The engine phase the node moves the VM into (`SetState`). */
export type VmState = VmEnums.VmState
/** luxd's block status; avalanchego VMs leave it `"Unspecified"`. */
export type BlockStatus = VmEnums.BlockStatus
/** What `WaitForEvent` reports (avalanchego). */
export type VmEvent = VmEnums.VmEvent
/** How the VM syncs to an accepted state summary. */
export type StateSyncMode = VmEnums.StateSyncMode

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

export type { PeerVersion } from "@vmre/wire"

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

