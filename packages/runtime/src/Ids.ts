/**
 * The ids the ChainVm client speaks in: the shared wire contract's (`@vmre/wire`). The client
 * checks every id again before it sends it, so a value forced into the type by a cast is still
 * refused before it reaches the wire.
 */
import { Ids } from "@vmre/wire"

export const { emptyId, Id, ID_LENGTH, idFromHex, NodeId, NODE_ID_LENGTH, toHex } = Ids
export type Id = Ids.Id
export type NodeId = Ids.NodeId
