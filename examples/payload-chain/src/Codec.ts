/**
 * The block format of payload-chain: a small, strict binary encoding (big-endian).
 *
 *   version        u8      = 1
 *   parent id      32 bytes
 *   height         u64
 *   timestamp      u64     milliseconds since the Unix epoch
 *   payload count  u32
 *   payloads       count × (u32 length, bytes)
 *
 * The block id is the SHA-256 of these bytes. Decoding refuses anything else: another
 * version, truncated input, trailing bytes. So one id stands for exactly one byte string.
 */
import { Id } from "@vmre/plugin"
import { Schema } from "effect"

export const VERSION = 1

export interface BlockData {
  readonly parentId: Uint8Array
  readonly height: bigint
  /** Milliseconds since the Unix epoch. */
  readonly timestampMillis: number
  readonly payloads: ReadonlyArray<Uint8Array>
}

export class MalformedBlock extends Schema.TaggedError<MalformedBlock>()("MalformedBlock", {
  reason: Schema.String
}) {
  override get message() {
    return `malformed block: ${this.reason}`
  }
}

const HEADER = 1 + 32 + 8 + 8 + 4

export const encode = (block: BlockData): Uint8Array => {
  const size = HEADER + block.payloads.reduce((n, p) => n + 4 + p.length, 0)
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  bytes[0] = VERSION
  bytes.set(block.parentId, 1)
  view.setBigUint64(33, block.height)
  view.setBigUint64(41, BigInt(block.timestampMillis))
  view.setUint32(49, block.payloads.length)
  let offset = HEADER
  for (const payload of block.payloads) {
    view.setUint32(offset, payload.length)
    bytes.set(payload, offset + 4)
    offset += 4 + payload.length
  }
  return bytes
}

/** Decodes `bytes`, or says why they are not a block. */
export const decode = (bytes: Uint8Array): BlockData | MalformedBlock => {
  if (bytes.length < HEADER) return new MalformedBlock({ reason: `${bytes.length} bytes is shorter than a header` })
  if (bytes[0] !== VERSION) return new MalformedBlock({ reason: `unknown version ${bytes[0]}` })
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const parentId = bytes.slice(1, 33)
  const height = view.getBigUint64(33)
  const timestamp = view.getBigUint64(41)
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return new MalformedBlock({ reason: "timestamp out of range" })
  const count = view.getUint32(49)
  const payloads: Array<Uint8Array> = []
  let offset = HEADER
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.length) return new MalformedBlock({ reason: `payload ${i} is truncated` })
    const length = view.getUint32(offset)
    if (offset + 4 + length > bytes.length) return new MalformedBlock({ reason: `payload ${i} is truncated` })
    // A view, not a copy: a 1 MiB block is not copied again for its payloads.
    payloads.push(bytes.subarray(offset + 4, offset + 4 + length))
    offset += 4 + length
  }
  if (offset !== bytes.length) return new MalformedBlock({ reason: `${bytes.length - offset} trailing bytes` })
  return { parentId, height, timestampMillis: Number(timestamp), payloads }
}

/** Big-endian u64, for the height index keys. */
export const u64 = (value: bigint): Uint8Array => {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, value)
  return bytes
}

export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** The id of a payload: its SHA-256. */
export const payloadId = (payload: Uint8Array): Uint8Array => Id.sha256(payload)
