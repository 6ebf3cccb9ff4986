/**
 * Which node's behaviour to reproduce where avalanchego and luxd differ on the wire (the
 * layout of a chain's keys in the node's store, and the companion services). avalanchego
 * v1.14 is the default.
 */
import { Config, Schema } from "effect"

export const NodeFlavour = Schema.Literals(["avalanchego", "luxd"])
export type NodeFlavour = typeof NodeFlavour.Type

export const DEFAULT: NodeFlavour = "avalanchego"

/** `VMRE_FLAVOUR`: `avalanchego` (default) or `luxd`. */
export const config: Config.Config<NodeFlavour> = Config.schema(NodeFlavour, "VMRE_FLAVOUR").pipe(
  Config.withDefault(DEFAULT)
)
