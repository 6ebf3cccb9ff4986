/**
 * IDs on the rpcchainvm wire: block and chain IDs are exactly 32 bytes, node IDs 20 bytes.
 *
 * Helpers to make, check, compare and print them. `toString` is the CB58 text form the Go
 * nodes print (base58 of the bytes followed by the last 4 bytes of their SHA-256), so a log
 * line of a TypeScript VM shows the same ID text as the node's own logs.
 */
import { createHash } from "node:crypto"

export const ID_LENGTH = 32
export const NODE_ID_LENGTH = 20

/** The all-zero ID: the parent of a genesis block. */
export const empty: Uint8Array = new Uint8Array(ID_LENGTH)

/** The SHA-256 of `bytes`: the usual way a VM derives a block ID from the block's bytes. */
export const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest())

export const isId = (bytes: Uint8Array): boolean => bytes.length === ID_LENGTH

export const equals = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lowercase hex: a cheap, unique map key for an ID. */
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex")

/** Parses lowercase or uppercase hex; undefined if `text` is not hex of an even length. */
export const fromHex = (text: string): Uint8Array | undefined =>
  /^(?:[0-9a-fA-F]{2})*$/.test(text) ? new Uint8Array(Buffer.from(text, "hex")) : undefined

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

const base58 = (bytes: Uint8Array): string => {
  let zeros = 0
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  let out = ""
  while (value > 0n) {
    out = ALPHABET[Number(value % 58n)]! + out
    value /= 58n
  }
  return "1".repeat(zeros) + out
}

const unbase58 = (text: string): Uint8Array | undefined => {
  let zeros = 0
  while (zeros < text.length && text[zeros] === "1") zeros++
  let value = 0n
  for (const char of text) {
    const digit = ALPHABET.indexOf(char)
    if (digit < 0) return undefined
    value = value * 58n + BigInt(digit)
  }
  const body: Array<number> = []
  while (value > 0n) {
    body.unshift(Number(value & 0xffn))
    value >>= 8n
  }
  return new Uint8Array([...new Array<number>(zeros).fill(0), ...body])
}

/** CB58: base58 of `bytes ++ sha256(bytes)[28..32]`, as avalanchego and luxd print IDs. */
export const toString = (bytes: Uint8Array): string => {
  const checksum = sha256(bytes).subarray(28)
  const all = new Uint8Array(bytes.length + 4)
  all.set(bytes)
  all.set(checksum, bytes.length)
  return base58(all)
}

/** Parses CB58; undefined if the text or its checksum is wrong. */
export const fromString = (text: string): Uint8Array | undefined => {
  const all = unbase58(text)
  if (all === undefined || all.length < 4) return undefined
  const bytes = all.subarray(0, all.length - 4)
  return equals(sha256(bytes).subarray(28), all.subarray(all.length - 4)) ? new Uint8Array(bytes) : undefined
}
