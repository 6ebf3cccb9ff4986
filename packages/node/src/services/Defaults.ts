/**
 * The node services of a single node, for dev chains and tests: this node as the only
 * validator (weight 100, its warp key), a fresh warp key per process, chain aliases in memory,
 * shared memory on the node's store, and an app network that records what VMs send. A node replaces any of them with its own
 * layer (provided after this one, it wins).
 */
import { Lifecycle } from "@vmre/runtime"
import { Effect, Layer } from "effect"
import { NodeConfig } from "../NodeConfig.ts"
import type { NodeDatabase } from "../NodeDatabase.ts"
import { type AppHub, AppNetwork } from "./AppNetwork.ts"
import { ChainAliases } from "./ChainAliases.ts"
import { ChainSignals } from "./ChainSignals.ts"
import { SharedMemory } from "./SharedMemory.ts"
import { ValidatorSet } from "./ValidatorSet.ts"
import { WarpSigner } from "./WarpSigner.ts"

type Services = ChainAliases | ValidatorSet | WarpSigner | AppNetwork | SharedMemory | ChainSignals

const withNetwork = <R>(
  network: Layer.Layer<AppNetwork, never, R>
): Layer.Layer<Services, never, NodeConfig | NodeDatabase | Lifecycle | R> =>
  Layer.unwrap(Effect.map(NodeConfig, (node) => {
    const signer = WarpSigner.layerEphemeral(node.flavour)
    const validators = Layer.unwrap(Effect.map(WarpSigner, (key) =>
      ValidatorSet.layerStatic({
        validators: [{ nodeId: node.nodeId, weight: 100n, publicKey: key.publicKeyUncompressed }]
      })))
    return Layer.mergeAll(ChainAliases.layer(), network, validators, SharedMemory.layer, ChainSignals.layer).pipe(
      Layer.provideMerge(signer)
    )
  }))

/** Every node service, single-node defaults; needs the node's config and the lifecycle stream. */
export const layerSingleNode: Layer.Layer<Services, never, NodeConfig | NodeDatabase | Lifecycle> = withNetwork(AppNetwork.layerRecording())

/**
 * The same, with app messages delivered between the nodes of this host that share the
 * `AppHub` (several node stacks in one process, each with its own node id).
 */
export const layerHostNode: Layer.Layer<Services, never, NodeConfig | NodeDatabase | Lifecycle | AppHub> = withNetwork(AppNetwork.layerLocal())
