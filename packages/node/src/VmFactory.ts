/**
 * The factory of chain VMs (avalanchego's RPC Chain VM factory): `create(chain)` starts the
 * chain's registered VM in a process of its own and initializes it for that chain, with
 *
 * - the chain's parameters (network, subnet, chain and node ids, genesis, upgrade and config
 *   bytes, and `<chain data root>/<chain ID>`, created before `Initialize` as upstream does);
 * - a database that is the chain's prefixed view of the node's store, served over rpcdb;
 * - the node services at `server_addr` (aliases, validators, warp signer, app sender, health;
 *   see `NodeServicesServer`), backed by the node's own layers, and the node's BLS public key.
 *
 * Everything belongs to the caller's scope; closing it stops the VM (Shutdown, SIGTERM, grace,
 * SIGKILL), then its servers. The node's store stays open.
 */
import { RpcDbServer } from "@vmre/rpcdb"
import {
  ChainVm,
  type ChainVmAttachConfig,
  type ChainVmClient,
  type ChainVmConfig,
  type Errors as RuntimeErrors,
  type LastAccepted,
  type VmInstance,
  VmRuntime
} from "@vmre/runtime"
import type { GrpcServer } from "@vmre/transport"
import { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Schema, type Scope } from "effect"
import { AppNetwork } from "./services/AppNetwork.ts"
import { ChainAliases } from "./services/ChainAliases.ts"
import * as NodeServicesServer from "./services/NodeServicesServer.ts"
import { WarpSigner } from "./services/WarpSigner.ts"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { VmNotRegistered } from "./Errors.ts"
import { NodeConfig } from "./NodeConfig.ts"
import { NodeDatabase } from "./NodeDatabase.ts"
import * as PrefixDatabase from "./PrefixDatabase.ts"
import { type RegisteredVm, VmRegistry } from "./VmRegistry.ts"

/** One chain: which VM runs it and what it starts from. */
export interface ChainSpec {
  readonly chainId: Ids.Id
  /** VM ID or alias, as registered. */
  readonly vm: string
  /** Default: the primary network's (all zeros). */
  readonly subnetId?: Ids.Id | undefined
  readonly genesis?: Uint8Array | undefined
  readonly upgrade?: Uint8Array | undefined
  readonly config?: Uint8Array | undefined
  /** A name for logs and events; default the chain ID. */
  readonly name?: string | undefined
}

/** A chain's VM, launched and initialized. */
export interface ChainVmInstance {
  readonly client: ChainVmClient
  readonly vm: VmInstance
  /** The registered VM launched; undefined in attach mode. */
  readonly registered: RegisteredVm | undefined
  /** What `Initialize` reported: the chain's last accepted block. */
  readonly lastAccepted: LastAccepted
  readonly chainDataDir: string
  /** `127.0.0.1:PORT` of the chain's rpcdb server and of the node's callback server. */
  readonly dbServerAddr: string
  readonly serverAddr: string
}

/** The chain's data dir could not be created. */
export class ChainDataDirFailed extends Schema.TaggedError<ChainDataDirFailed>()("ChainDataDirFailed", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot create the chain data dir ${this.path}: ${this.reason}`
  }
}

export type CreateError =
  | VmNotRegistered
  | RuntimeErrors.LaunchError
  | RuntimeErrors.AttachError
  | RuntimeErrors.VmCallError
  | GrpcServer.ServerListenError
  | ChainDataDirFailed

export interface VmFactoryOptions {
  /** How chain VMs are launched (protocol versions, timeouts, env, call timeouts…). */
  readonly launch?: Omit<ChainVmConfig, "path" | "name"> | undefined
  /**
   * Attach mode: instead of launching the chain's registered VM, wait at `listen` for a plugin
   * started by hand (e.g. under a debugger) and use it; it is never signalled.
   */
  readonly attach?: Omit<ChainVmAttachConfig, "name"> | undefined
}

export class VmFactory extends Context.Service<VmFactory, {
  readonly create: (chain: ChainSpec) => Effect.Effect<ChainVmInstance, CreateError, Scope.Scope>
}>()("@vmre/node/VmFactory") {
  static readonly layer = (
    options: VmFactoryOptions = {}
  ): Layer.Layer<VmFactory, never, VmRegistry | VmRuntime | NodeDatabase | NodeConfig | NodeServicesServer.NodeServices> =>
    Layer.effect(
      VmFactory,
      Effect.gen(function*() {
        const registry = yield* VmRegistry
        const runtime = yield* VmRuntime
        const store = yield* NodeDatabase
        const node = yield* NodeConfig
        const services = yield* Effect.context<NodeServicesServer.NodeServices>()
        const signer = Context.get(services, WarpSigner)
        const aliases = Context.get(services, ChainAliases)
        const network = Context.get(services, AppNetwork)

        const create = Effect.fn("VmFactory.create")(function*(chain: ChainSpec) {
          const registered = options.attach === undefined ? yield* registry.lookup(chain.vm) : undefined
          const chainText = Ids.toString(chain.chainId)
          const name = chain.name ?? chainText
          yield* Effect.annotateCurrentSpan({ chain: name, vmID: registered?.vmId ?? chain.vm })

          const chainDataDir = path.join(node.chainDataRoot, chainText)
          yield* Effect.tryPromise({
            try: () => fs.mkdir(chainDataDir, { recursive: true, mode: 0o750 }),
            catch: (error) => new ChainDataDirFailed({ path: chainDataDir, reason: String(error) })
          })

          // Served before the VM starts, so that they close after its stop sequence.
          const database = yield* PrefixDatabase.make(store, PrefixDatabase.chainVmPrefix(node.flavour, chain.chainId))
          const db = yield* RpcDbServer.serve(database)
          const callbacks = yield* NodeServicesServer.serve({ chainId: chain.chainId, networkId: node.networkId, flavour: node.flavour }).pipe(
            Effect.provide(services)
          )

          const started: Effect.Effect<
            { readonly client: ChainVmClient; readonly vm: VmInstance },
            RuntimeErrors.LaunchError | RuntimeErrors.AttachError,
            VmRuntime | Scope.Scope
          > = registered === undefined ?
            ChainVm.attach({ ...options.attach!, name }) :
            ChainVm.launch({ ...options.launch, path: registered.path, name })
          const { client, vm } = yield* Effect.provideService(started, VmRuntime, runtime)
          const lastAccepted = yield* client.initialize({
            networkId: node.networkId,
            subnetId: chain.subnetId ?? Ids.emptyId,
            chainId: chain.chainId,
            nodeId: node.nodeId,
            publicKey: signer.publicKey,
            xChainId: Ids.emptyId,
            cChainId: Ids.emptyId,
            avaxAssetId: Ids.emptyId,
            chainDataDir,
            genesisBytes: chain.genesis ?? new Uint8Array(0),
            upgradeBytes: chain.upgrade ?? new Uint8Array(0),
            configBytes: chain.config ?? new Uint8Array(0),
            dbServerAddr: db.address,
            serverAddr: callbacks.address
          })
          // The VM receives its peers' app messages (with a host-local network: other nodes of this host).
          yield* network.join(chain.chainId, {
            appRequest: client.appRequest,
            appResponse: client.appResponse,
            appRequestFailed: client.appRequestFailed,
            appGossip: client.appGossip,
            crossChainAppRequest: client.crossChainAppRequest,
            crossChainAppResponse: client.crossChainAppResponse,
            crossChainAppRequestFailed: client.crossChainAppRequestFailed
          })
          // As upstream, a chain is known by its CB58 id once it is built (and by its name here).
          yield* Effect.ignore(aliases.add(chain.chainId, [...(chain.name === undefined ? [] : [chain.name]), chainText]))
          return {
            client,
            vm,
            registered,
            lastAccepted,
            chainDataDir,
            dbServerAddr: db.address,
            serverAddr: callbacks.address
          } satisfies ChainVmInstance
        })
        return VmFactory.of({ create })
      })
    )
}
