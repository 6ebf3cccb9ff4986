/**
 * The identifiers of the rpcchainvm wire: 32-byte ids (blocks, chains, subnets, assets,
 * state summaries) and 20-byte node ids, as branded `Uint8Array`s validated by Schema.
 *
 * `Id.make(bytes)` throws on a wrong length, `Id.makeOption(bytes)` does not; `Schema.is(Id)`
 * checks a value. The ChainVm client checks every id again before it sends it, so a value
 * forced into the type by a cast is still refused before it reaches the wire.
 */
import { Schema } from "effect"

const exactLength = (bytes: number, what: string) =>
  Schema.makeFilter<Uint8Array>(
    (input) => input.length === bytes || `${what} must be ${bytes} bytes, got ${input.length}`,
    { expected: `${what} (${bytes} bytes)` }
  )

/** Length of an {@link Id} in bytes. */
export const ID_LENGTH = 32
/** Length of a {@link NodeId} in bytes. */
export const NODE_ID_LENGTH = 20

/** A 32-byte id (block, chain, subnet, asset, state summary). */
export const Id = Schema.Uint8Array.pipe(Schema.check(exactLength(ID_LENGTH, "an id")), Schema.brand("@vmre/Id"))
export type Id = typeof Id.Type

/** A 20-byte node id (a peer). */
export const NodeId = Schema.Uint8Array.pipe(
  Schema.check(exactLength(NODE_ID_LENGTH, "a node id")),
  Schema.brand("@vmre/NodeId")
)
export type NodeId = typeof NodeId.Type

/** The all-zero id (the parent of a genesis block). */
export const emptyId: Id = Id.make(new Uint8Array(ID_LENGTH))

/** Lower-case hex of some bytes, for messages and logs. */
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex")

/** An id from 64 hex digits (an optional `0x` prefix is allowed); throws on anything else. */
export const idFromHex = (hex: string): Id => Id.make(new Uint8Array(Buffer.from(hex.replace(/^0x/, ""), "hex")))
