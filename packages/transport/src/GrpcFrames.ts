/**
 * What both halves of vmre's engine (H2Transport, H2Handler) share about a gRPC stream: its
 * length-prefixed messages (1 byte of flags, bit 0 compressed; 4 bytes of length; the message),
 * their decoding, its metadata as Web `Headers`, and the `grpc-message` encoding.
 */
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf"
import { Code, ConnectError } from "@connectrpc/connect"
import type * as http2 from "node:http2"

/** An HTTP/2 header block's metadata as Web `Headers` (pseudo-headers left out). */
export const webHeaders = (headers: http2.IncomingHttpHeaders): Headers => {
  const out = new Headers()
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(":") || value === undefined) continue
    if (Array.isArray(value)) for (const v of value) out.append(key, v)
    else out.append(key, String(value))
  }
  return out
}

/** A message from its bytes; bytes that are not one fail as Connect reports it (INTERNAL, "parse binary: …"). */
export const decode = <Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> => {
  try {
    return fromBinary(schema, bytes)
  } catch (error) {
    throw new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal)
  }
}

/** The 5-byte prefix of an uncompressed message of `length` bytes, written at the start of `out`. */
const putPrefix = (out: Buffer, length: number): void => {
  out[0] = 0
  out.writeUInt32BE(length, 1)
}

export const frame = (payload: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(5 + payload.length)
  putPrefix(out, payload.length)
  out.set(payload, 5)
  return out
}

/** From this size a message is written after its prefix rather than copied behind it. */
const COPY_LIMIT = 64 * 1024

/**
 * Writes one length-prefixed message to an HTTP/2 stream (and ends it if `end`); returns what
 * `write` returned (false: wait for "drain"). A large message is not copied to put five bytes
 * before it: the prefix and the message go as two chunks of one corked write.
 */
export const writeMessage = (stream: http2.Http2Stream, payload: Uint8Array, end: boolean): boolean => {
  if (payload.length < COPY_LIMIT) {
    const bytes = frame(payload)
    if (!end) return stream.write(bytes)
    stream.end(bytes)
    return true
  }
  const prefix = Buffer.allocUnsafe(5)
  putPrefix(prefix, payload.length)
  stream.cork()
  stream.write(prefix)
  let flowing = true
  if (end) stream.end(payload)
  else flowing = stream.write(payload)
  stream.uncork()
  return flowing
}

/**
 * Splits length-prefixed messages out of the response's chunks. Chunks are kept as they come
 * and joined once per message (joining on every chunk would copy a large message over and over).
 */
export class FrameReader {
  private chunks: Array<Buffer> = []
  private size = 0
  private readonly readMaxBytes: number
  constructor(readMaxBytes: number) {
    this.readMaxBytes = readMaxBytes
  }
  push(chunk: Buffer): Array<Uint8Array> {
    this.chunks.push(chunk)
    this.size += chunk.length
    const messages: Array<Uint8Array> = []
    while (this.size >= 5) {
      const head = this.chunks[0]!.length >= 5 ? this.chunks[0]! : this.take(5, false)
      const flags = head[0]!
      const length = head.readUInt32BE(1)
      if (length > this.readMaxBytes) {
        throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${this.readMaxBytes}`, Code.ResourceExhausted)
      }
      if (this.size < 5 + length) break
      if ((flags & 0b1) !== 0) throw new ConnectError("received a compressed message, but no compression was negotiated", Code.Internal)
      const whole = this.take(5 + length, true)
      // A plain Uint8Array view (no copy): decoded bytes fields are then plain Uint8Arrays, as
      // Connect's, not Buffers.
      messages.push(new Uint8Array(whole.buffer, whole.byteOffset + 5, length))
    }
    return messages
  }
  /** The first `n` bytes as one buffer (removed when `consume`). */
  private take(n: number, consume: boolean): Buffer {
    const first = this.chunks[0]!
    let out: Buffer
    if (first.length >= n) out = first.subarray(0, n)
    else {
      out = Buffer.allocUnsafe(n)
      let filled = 0
      for (const chunk of this.chunks) {
        const part = chunk.subarray(0, Math.min(chunk.length, n - filled))
        out.set(part, filled)
        filled += part.length
        if (filled === n) break
      }
    }
    if (consume) {
      let left = n
      while (left > 0) {
        const chunk = this.chunks[0]!
        if (chunk.length <= left) {
          this.chunks.shift()
          left -= chunk.length
        } else {
          this.chunks[0] = chunk.subarray(left)
          left = 0
        }
      }
      this.size -= n
    }
    return out
  }
  get pending(): number {
    return this.size
  }
}

/** What grpc-go and C-core say for a `/service/method` path they do not serve, given the services they do. */
export const unimplementedMessage = (path: string, services: ReadonlySet<string>): string => {
  const [service = "", method = ""] = path.replace(/^\//, "").split("/")
  return services.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`
}

/**
 * gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`, as
 * `%XX` of their UTF-8 encoding.
 */
export const encodeGrpcMessage = (message: string): string => {
  let out = ""
  for (const byte of new TextEncoder().encode(message)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ?
      String.fromCharCode(byte) :
      `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}
