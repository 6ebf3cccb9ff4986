/** A bounded ring buffer of a plugin's recent output lines (the "stderr tail" of error reports). */
import { Buffer } from "node:buffer"
import { cutPoint } from "./LineSplitter.ts"


/** Marker appended to a line that `RecentLines` truncated. */
export const TRUNCATION_MARKER = "…"
const MARKER_BYTES = Buffer.byteLength(TRUNCATION_MARKER)

export interface RecentLinesOptions {
  /** Most lines kept (default 50). */
  readonly maxLines?: number | undefined
  /** Most UTF-8 bytes kept over all lines (default 16 KiB). */
  readonly maxBytes?: number | undefined
  /** Most UTF-8 bytes of one stored line, marker included (default 1 KiB; at most maxBytes). */
  readonly maxLineBytes?: number | undefined
}

const positiveInt = (name: string, value: number, min: number): number => {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`)
  }
  return value
}

/**
 * A bounded ring buffer of the most recent lines: at most `maxLines` lines and `maxBytes` UTF-8
 * bytes, each line truncated to `maxLineBytes` (ending in `…` when cut). O(1) amortised push.
 */
export class RecentLines {
  readonly maxLines: number
  readonly maxBytes: number
  readonly maxLineBytes: number
  private readonly lines: Array<string>
  private readonly sizes: Array<number>
  private head = 0 // index of the oldest line
  private count = 0
  private bytes = 0

  /** `new RecentLines(20)` is `new RecentLines({ maxLines: 20 })`. */
  constructor(options: number | RecentLinesOptions = {}) {
    if (typeof options === "number") options = { maxLines: options }
    this.maxLines = positiveInt("maxLines", options.maxLines ?? 50, 1)
    this.maxBytes = positiveInt("maxBytes", options.maxBytes ?? 16 * 1024, MARKER_BYTES + 4)
    this.maxLineBytes = Math.min(
      positiveInt("maxLineBytes", options.maxLineBytes ?? 1024, MARKER_BYTES + 4),
      this.maxBytes
    )
    this.lines = new Array<string>(this.maxLines).fill("")
    this.sizes = new Array<number>(this.maxLines).fill(0)
  }

  /** Lines currently held. */
  get size(): number {
    return this.count
  }

  /** UTF-8 bytes currently held. */
  get byteLength(): number {
    return this.bytes
  }

  push(line: string): void {
    let stored = line
    // A UTF-16 unit encodes to at most 3 UTF-8 bytes: only long strings need measuring.
    let size = line.length * 3 <= this.maxLineBytes ? -1 : Buffer.byteLength(line)
    if (size > this.maxLineBytes) {
      stored = truncateUtf8(line, this.maxLineBytes - MARKER_BYTES) + TRUNCATION_MARKER
      size = Buffer.byteLength(stored)
    } else if (size === -1) {
      size = Buffer.byteLength(line)
    }
    const cap = this.maxLines
    while (this.count > 0 && (this.count === cap || this.bytes + size > this.maxBytes)) {
      this.bytes -= this.sizes[this.head]!
      this.lines[this.head] = ""
      this.head = this.head + 1 === cap ? 0 : this.head + 1
      this.count--
    }
    const at = (this.head + this.count) % cap
    this.lines[at] = stored
    this.sizes[at] = size
    this.count++
    this.bytes += size
  }

  /** The held lines, oldest first (a copy). */
  snapshot(): ReadonlyArray<string> {
    const out = new Array<string>(this.count)
    for (let i = 0; i < this.count; i++) out[i] = this.lines[(this.head + i) % this.maxLines]!
    return out
  }

  clear(): void {
    this.lines.fill("")
    this.head = 0
    this.count = 0
    this.bytes = 0
  }
}

// The longest prefix of `s` whose UTF-8 encoding has at most `maxBytes` bytes, cut on a
// character boundary.
const truncateUtf8 = (s: string, maxBytes: number): string => {
  // Each UTF-16 unit is >= 1 byte, so the first maxBytes units cover the first maxBytes bytes.
  const b = Buffer.from(s.length > maxBytes ? s.slice(0, maxBytes) : s)
  if (b.length <= maxBytes) return b.toString("utf8")
  return b.toString("utf8", 0, cutPoint(b, 0, maxBytes))
}
