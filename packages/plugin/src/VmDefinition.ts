/**
 * The VM definition: what a TypeScript VM implements to run under avalanchego, luxd or
 * vmre through the rpcchainvm protocol (`vm.VM`).
 *
 * A VM is a plain object of effects. The SDK ({@link VmServer}) turns the node's gRPC calls
 * into calls of these effects and takes care of the wire: 32-byte IDs, timestamps, the
 * `err` enums, keeping verified blocks retrievable by id, GetAncestors, BatchedParseBlock,
 * metrics, the database connection, and answering Version and Shutdown before Initialize.
 *
 * Errors: a VM effect may fail with anything. {@link NotFound} (and the database's
 * `DatabaseClosed`, or {@link Closed}) travel as the `err` enums the node knows by identity;
 * any other failure becomes a gRPC error whose text is the error's message.
 */
import type { NodeClients } from "./NodeClients.ts"
import type { MetricFamily } from "@vmre/proto/io/prometheus/client/metrics_pb"
import type { NetworkUpgrades } from "@vmre/proto/vm/vm_pb"
import type { Database as Rpcdb } from "@vmre/rpcdb"
import { type PeerVersion, type VmEnums, WireErrors } from "@vmre/wire"
import { type Effect, type Option, type Scope } from "effect"
import type { Block } from "./Block.ts"
import type { HttpHandler, WebHandler } from "./HttpHandlers.ts"

export type { Block, BlockContext } from "./Block.ts"
/** The database a VM gets at Initialize (an rpcdb client of the node's database). */
export type Database = Rpcdb.Database
export type { NetworkUpgrades } from "@vmre/proto/vm/vm_pb"
export type { MetricFamily } from "@vmre/proto/io/prometheus/client/metrics_pb"

/** `ERROR_NOT_FOUND` (nothing with that id or height) and `ERROR_CLOSED` on the wire (gRPC status OK). */
export const { Closed, NotFound } = WireErrors
export type Closed = WireErrors.Closed
export type NotFound = WireErrors.NotFound

/** The engine phase the node moves the VM into (SetState); the host spells it the same. */
export type VmState = VmEnums.VmState

/** What the VM can ask the engine for (WaitForEvent). */
export type VmEvent = VmEnums.VmEvent

/** Everything the node tells the VM at Initialize, plus the database. */
export interface InitializeContext {
  readonly networkId: number
  /** 32 bytes each. */
  readonly subnetId: Uint8Array
  readonly chainId: Uint8Array
  /** 20 bytes. */
  readonly nodeId: Uint8Array
  /** The node's compressed BLS public key (may be empty). */
  readonly publicKey: Uint8Array
  readonly xChainId: Uint8Array
  readonly cChainId: Uint8Array
  /** avalanchego's avax_asset_id, luxd's lux_asset_id. */
  readonly assetId: Uint8Array
  /** A directory the VM may use for its own files. */
  readonly chainDataDir: string
  readonly genesisBytes: Uint8Array
  readonly upgradeBytes: Uint8Array
  readonly configBytes: Uint8Array
  /** The node's database for this chain (an rpcdb client of `dbServerAddr`). */
  readonly database: Database
  readonly dbServerAddr: string
  /** The node's callback server (shared memory, app sender, validator state, warp signer). */
  readonly serverAddr: string
  /**
   * Typed clients of the node services at `serverAddr`: app messages to peers, validators,
   * chain aliases, warp signatures. Every call fails with `NodeServiceError` when the node
   * gave no `serverAddr`.
   */
  readonly node: NodeClients
  /** avalanchego's network upgrade times; none from luxd. */
  readonly networkUpgrades: Option.Option<NetworkUpgrades>
  /**
   * Tells the engine the VM has something for it: the default `waitForEvent` returns it.
   * Notifications are coalesced while nobody waits, and a BuildBlock call consumes a pending
   * "BuildBlock": notify again during or after `buildBlock` when more is pending (e.g. a
   * mempool that holds more than one block's worth).
   */
  readonly notify: (event: VmEvent) => Effect.Effect<void>
}

export interface BuildBlockOptions {
  /** Set when the node builds with proposervm's context. */
  readonly pChainHeight?: bigint
}

export type { PeerVersion } from "@vmre/wire"

export interface AppRequest {
  /** 20 bytes. */
  readonly nodeId: Uint8Array
  readonly requestId: number
  /** After this instant the peer no longer waits for the answer. */
  readonly deadline: Date
  readonly request: Uint8Array
}

export interface AppResponse {
  readonly nodeId: Uint8Array
  readonly requestId: number
  readonly response: Uint8Array
}

export interface AppRequestFailed {
  readonly nodeId: Uint8Array
  readonly requestId: number
  readonly errorCode: number
  readonly errorMessage: string
}

export interface AppGossip {
  readonly nodeId: Uint8Array
  readonly msg: Uint8Array
}

/** luxd only: messages between chains of the same node. */
export interface CrossChainAppRequest {
  readonly chainId: Uint8Array
  readonly requestId: number
  readonly deadline: Date
  readonly request: Uint8Array
}

export interface CrossChainAppResponse {
  readonly chainId: Uint8Array
  readonly requestId: number
  readonly response: Uint8Array
}

export interface CrossChainAppRequestFailed {
  readonly chainId: Uint8Array
  readonly requestId: number
  readonly errorCode: number
  readonly errorMessage: string
}

/** How the VM syncs to an accepted state summary. */
export type StateSyncMode = VmEnums.StateSyncMode

export interface StateSummary {
  /** 32 bytes. */
  readonly id: Uint8Array
  readonly height: bigint
  readonly bytes: Uint8Array
  readonly accept: Effect.Effect<StateSyncMode, unknown>
}

/** State sync; a VM without it answers `ERROR_STATE_SYNC_NOT_IMPLEMENTED`. */
export interface StateSyncableVM {
  readonly enabled: Effect.Effect<boolean, unknown>
  /** {@link NotFound} when no sync is in progress. */
  readonly getOngoingSyncStateSummary: Effect.Effect<StateSummary, unknown>
  readonly getLastStateSummary: Effect.Effect<StateSummary, unknown>
  readonly parseStateSummary: (bytes: Uint8Array) => Effect.Effect<StateSummary, unknown>
  readonly getStateSummary: (height: bigint) => Effect.Effect<StateSummary, unknown>
}

/** A VM as the SDK serves it over `vm.VM`; the host's client of that service is `@vmre/runtime`'s `ChainVm`. */
export interface VmDefinition<B extends Block = Block> {
  /**
   * Opens the chain: read the genesis, config and database, and return the last accepted
   * block (the genesis block on first start). The scope lives until Shutdown (or until the
   * server stops): fork background fibers into it (`Effect.forkScoped`) and acquire
   * resources in it; they are released after `shutdown` ran, before the database closes.
   */
  readonly initialize: (context: InitializeContext) => Effect.Effect<B, unknown, Scope.Scope>
  readonly setState: (state: VmState) => Effect.Effect<void, unknown>
  /** Builds a block on the preferred block. It is not verified yet: the node verifies it. */
  readonly buildBlock: (options: BuildBlockOptions) => Effect.Effect<B, unknown>
  /** Decodes a block; no verification. Parsing the same bytes twice gives the same id. */
  readonly parseBlock: (bytes: Uint8Array) => Effect.Effect<B, unknown>
  /**
   * A block the VM knows (accepted, or one it keeps itself) or {@link NotFound}. Verified
   * but undecided blocks are found by the SDK before it asks the VM.
   */
  readonly getBlock: (id: Uint8Array) => Effect.Effect<B, unknown>
  /** The block new blocks are built on. */
  readonly setPreference: (id: Uint8Array) => Effect.Effect<void, unknown>
  /** The id of the last accepted block. */
  readonly lastAccepted: Effect.Effect<Uint8Array, unknown>
  /** The id of the accepted block at `height`, or {@link NotFound}. */
  readonly getBlockIdAtHeight: (height: bigint) => Effect.Effect<Uint8Array, unknown>
  /** A JSON-serialisable health report; failing means unhealthy. */
  readonly health: Effect.Effect<unknown, unknown>
  readonly version: string | Effect.Effect<string, unknown>
  /** Releases the VM's resources; the SDK closes the database afterwards. */
  readonly shutdown: Effect.Effect<void, unknown>

  readonly connected?: (nodeId: Uint8Array, version: PeerVersion) => Effect.Effect<void, unknown>
  readonly disconnected?: (nodeId: Uint8Array) => Effect.Effect<void, unknown>
  readonly appRequest?: (request: AppRequest) => Effect.Effect<void, unknown>
  readonly appResponse?: (response: AppResponse) => Effect.Effect<void, unknown>
  readonly appRequestFailed?: (failure: AppRequestFailed) => Effect.Effect<void, unknown>
  readonly appGossip?: (gossip: AppGossip) => Effect.Effect<void, unknown>
  readonly crossChainAppRequest?: (request: CrossChainAppRequest) => Effect.Effect<void, unknown>
  readonly crossChainAppResponse?: (response: CrossChainAppResponse) => Effect.Effect<void, unknown>
  readonly crossChainAppRequestFailed?: (failure: CrossChainAppRequestFailed) => Effect.Effect<void, unknown>
  /**
   * Extra Prometheus families for Gather. The SDK always reports the Effect metrics of the
   * server's context (its own `vm_*` counters and every `Metric` the VM updates).
   */
  readonly gather?: Effect.Effect<ReadonlyArray<MetricFamily>, unknown>
  readonly createHandlers?: Effect.Effect<ReadonlyArray<HttpHandler>, unknown>
  /**
   * avalanchego only: one handler the node routes to by the request header
   * `Avalanche-Api-Route: <chain ID>` (any path), as a Web handler the SDK serves or the
   * address of a server of the VM's own; none by default.
   */
  readonly newHttpHandler?: Effect.Effect<Option.Option<string | WebHandler>, unknown>
  /**
   * avalanchego's long poll (the engine calls it in a loop). Default: wait for the next
   * `context.notify(...)`. It is interrupted when the call is cancelled or at Shutdown.
   */
  readonly waitForEvent?: Effect.Effect<VmEvent, unknown>
  readonly stateSync?: StateSyncableVM
}
