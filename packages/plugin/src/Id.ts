/**
 * IDs on the rpcchainvm wire, for VM authors: make, check, compare and print them (CB58, as the
 * Go nodes print them). The definitions are the shared wire contract's (`@vmre/wire`).
 */
import { Ids } from "@vmre/wire"

export const { equals, fromHex, fromString, ID_LENGTH, idFromString, isId, NODE_ID_LENGTH, sha256, toHex, toString } =
  Ids

/** The all-zero ID: the parent of a genesis block. */
export const empty: Uint8Array = Ids.emptyId
