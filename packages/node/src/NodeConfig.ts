/**
 * Who the node is, as its chains' VMs see it at `Initialize`: network, node id, the root of
 * the chains' data dirs, the flavour of node it behaves as.
 */
import { Ids } from "@vmre/wire"
import { Config, Context, Layer, Schema } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeFlavour from "./NodeFlavour.ts"

export interface NodeConfigShape {
  readonly networkId: number
  readonly nodeId: Ids.NodeId
  /** Each chain gets `<chainDataRoot>/<chain ID>` (created, mode 0750) as its `chain_data_dir`. */
  readonly chainDataRoot: string
  readonly flavour: NodeFlavour.NodeFlavour
}

/** avalanchego's local network id. */
export const LOCAL_NETWORK_ID = 12345

/** The node id of a dev node: 20 bytes of 0x01 (fixed, so a dev chain's VM sees the same id every run). */
export const devNodeId: Ids.NodeId = Ids.NodeId.make(new Uint8Array(Ids.NODE_ID_LENGTH).fill(1))

const NodeIdText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    parseNodeId(text) !== undefined || "a node id: NodeID- followed by the CB58 text of 20 bytes"
  )
)

/** `NodeID-<CB58>` (or the bare CB58) as a 20-byte node id. */
export const parseNodeId = (text: string): Ids.NodeId | undefined => {
  const bytes = Ids.fromString(text.startsWith("NodeID-") ? text.slice("NodeID-".length) : text)
  return bytes !== undefined && bytes.length === Ids.NODE_ID_LENGTH ? Ids.NodeId.make(bytes) : undefined
}

/** `NodeID-<CB58>`, as the Go nodes write a node id. */
export const formatNodeId = (nodeId: Ids.NodeId): string => `NodeID-${Ids.toString(nodeId)}`

export class NodeConfig extends Context.Service<NodeConfig, NodeConfigShape>()("@vmre/node/NodeConfig") {
  /**
   * From the environment: `VMRE_NETWORK_ID` (12345), `VMRE_NODE_ID` (a fixed dev id),
   * `VMRE_CHAIN_DATA_DIR` (`$TMPDIR/vmre/chainData`), `VMRE_FLAVOUR` (avalanchego).
   */
  static readonly layer: Layer.Layer<NodeConfig, Config.ConfigError> = Layer.effect(
    NodeConfig,
    Config.all({
      networkId: Config.Int("VMRE_NETWORK_ID").pipe(Config.withDefault(LOCAL_NETWORK_ID)),
      nodeId: Config.schema(NodeIdText, "VMRE_NODE_ID").pipe(
        Config.map((text) => parseNodeId(text)!),
        Config.withDefault(devNodeId)
      ),
      chainDataRoot: Config.String("VMRE_CHAIN_DATA_DIR").pipe(
        Config.withDefault(path.join(os.tmpdir(), "vmre", "chainData"))
      ),
      flavour: NodeFlavour.config
    })
  )

  static readonly layerWith = (config: Partial<NodeConfigShape> & Pick<NodeConfigShape, "chainDataRoot">) =>
    Layer.succeed(NodeConfig, {
      networkId: config.networkId ?? LOCAL_NETWORK_ID,
      nodeId: config.nodeId ?? devNodeId,
      chainDataRoot: config.chainDataRoot,
      flavour: config.flavour ?? NodeFlavour.DEFAULT
    })
}

