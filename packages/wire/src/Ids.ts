/**
 * The identifiers of the rpcchainvm wire: 32-byte ids (blocks, chains, subnets, assets, state
 * summaries) and 20-byte node ids, as branded `Uint8Array`s validated by Schema, with the CB58
 * text form the Go nodes print (base58 of the bytes followed by the last 4 bytes of their
 * SHA-256), so a TypeScript VM's logs show the same id text as the node's own.
 *
 * `Id.make(bytes)` throws on a wrong length, `Id.makeOption(bytes)` does not; `Schema.is(Id)`
 * checks a value.
 */
import { base58 } from "@scure/base"
import { Bytes, Result, Schema } from "effect"
import { Hex } from "effect/encoding"
import { createHash } from "node:crypto"

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

/** The all-zero id: the parent of a genesis block. */
export const emptyId: Id = Id.make(new Uint8Array(ID_LENGTH))

/** Whether `bytes` has the length of an id. */
export const isId = (bytes: Uint8Array): boolean => bytes.length === ID_LENGTH

/** Byte-wise equality of two ids (or any byte strings). */
export const equals: (a: Uint8Array, b: Uint8Array) => boolean = Bytes.Equivalence

/** The SHA-256 of `bytes`: the usual way a VM derives a block id from the block's bytes. */
export const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest())

/** Lower-case hex: a cheap, unique map key, and the form of ids in messages. */
export const toHex = (bytes: Uint8Array): string => Hex.encode(bytes)

/** Bytes from hex of an even length (an optional `0x` prefix is allowed); undefined otherwise. */
export const fromHex = (text: string): Uint8Array | undefined => {
  const decoded = Hex.decode(text.replace(/^0x/, ""))
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

/** An id from 64 hex digits (an optional `0x` prefix is allowed); throws on anything else. */
export const idFromHex = (hex: string): Id => Id.make(fromHex(hex) ?? new Uint8Array(0))

const CHECKSUM_LENGTH = 4
const checksum = (bytes: Uint8Array): Uint8Array => sha256(bytes).subarray(32 - CHECKSUM_LENGTH)

/** CB58: base58 of `bytes ++ sha256(bytes)[28..32]`, as avalanchego and luxd print ids. */
export const toString = (bytes: Uint8Array): string => {
  const all = new Uint8Array(bytes.length + CHECKSUM_LENGTH)
  all.set(bytes)
  all.set(checksum(bytes), bytes.length)
  return base58.encode(all)
}

/** Bytes from CB58 text; undefined if the text is not base58 or its checksum is wrong. */
export const fromString = (text: string): Uint8Array | undefined => {
  let all: Uint8Array
  try {
    all = base58.decode(text)
  } catch {
    // @scure/base reports a bad character by throwing; for us it is just not an id.
    return undefined
  }
  if (all.length < CHECKSUM_LENGTH) return undefined
  const bytes = all.subarray(0, all.length - CHECKSUM_LENGTH)
  return equals(checksum(bytes), all.subarray(all.length - CHECKSUM_LENGTH)) ? new Uint8Array(bytes) : undefined
}

/** A 32-byte id from its CB58 text (as in a plugin directory's file names); undefined otherwise. */
export const idFromString = (text: string): Id | undefined => {
  const bytes = fromString(text)
  return bytes !== undefined && bytes.length === ID_LENGTH ? Id.make(bytes) : undefined
}
