/**
 * PluginLog: the pure log-line pipeline of a plugin's stdout/stderr.
 *
 *   bytes ──splitLines──▶ lines ──detectLevel──▶ LogRecord
 *
 * plus `RecentLines`, a bounded ring buffer of recent lines (the "stderr tail" of error reports).
 * Nothing here performs I/O or logs: the host forwards the records to the Effect logger.
 */
import { Buffer } from "node:buffer"
import type { LogLevel } from "effect"
import { Array as Arr, Stream } from "effect"
import { dual } from "effect/Function"

/** Which of the plugin's output pipes a line came from. */
export type OutputStream = "stdout" | "stderr"

/** One line of plugin output with its detected level. */
export interface LogRecord {
  readonly stream: OutputStream
  readonly line: string
  readonly level: LogLevel.Severity
}

/** Default bound on the bytes of one emitted line (longer lines are emitted in pieces). */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024

const LF = 10
const CR = 13

const toBuffer = (chunk: Uint8Array): Buffer =>
  Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)

/**
 * A cut position in `b` for a piece starting at `start` of at most `max` bytes: `start + max`,
 * moved back (at most 3 bytes) so that it does not fall inside a UTF-8 sequence. `b[start + max]`
 * must exist. Invalid UTF-8 (more than 3 continuation bytes in a row) is cut at `start + max`.
 */
const cutPoint = (b: Buffer, start: number, max: number): number => {
  const hard = start + max
  let c = hard
  for (let k = 0; k < 3 && c > start + 1 && (b[c]! & 0xc0) === 0x80; k++) c--
  return (b[c]! & 0xc0) === 0x80 ? hard : c
}

const checkMaxLineBytes = (maxLineBytes: number): number => {
  if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 4) {
    throw new RangeError(`maxLineBytes must be an integer >= 4 (one UTF-8 character), got ${maxLineBytes}`)
  }
  return maxLineBytes
}

/**
 * The synchronous core of `splitLines`: feed it byte chunks, get complete lines.
 *
 * - lines end at `\n`; one trailing `\r` is stripped;
 * - UTF-8 is decoded per line (or per piece), so a character split between chunks is intact;
 * - at most `maxLineBytes + 1` bytes of an unfinished line are held: a longer line is emitted
 *   in pieces of at most `maxLineBytes` bytes, each cut on a UTF-8 character boundary.
 *   (The extra byte is room for a `\r` that may still turn out to precede the `\n`, so a line of
 *   exactly `maxLineBytes` bytes followed by `\r\n` is still one line.)
 *
 * Works on bytes (`indexOf(10)`, `toString(start, end)`) with no per-byte JS loop.
 */
export class LineSplitter {
  readonly maxLineBytes: number
  // Bytes of the current unfinished line; allocated on first use, capacity maxLineBytes + 1.
  private pending: Buffer | undefined
  private pendingLength = 0

  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.maxLineBytes = checkMaxLineBytes(maxLineBytes)
  }

  /** Bytes currently buffered for an unfinished line (never more than `maxLineBytes + 1`). */
  get pendingBytes(): number {
    return this.pendingLength
  }

  /** Splits one chunk, appending the completed lines (and pieces of long lines) to `out`. */
  push(chunk: Uint8Array, out: Array<string> = []): Array<string> {
    const buf = toBuffer(chunk)
    const end = buf.length
    const max = this.maxLineBytes
    let start = 0
    let nl = buf.indexOf(LF, 0)
    if (this.pendingLength > 0 && nl !== -1) {
      this.append(buf, 0, nl, out)
      this.flushPending(out)
      start = nl + 1
      nl = buf.indexOf(LF, start)
    }
    while (nl !== -1) {
      let e = nl
      if (e > start && buf[e - 1] === CR) e--
      if (e - start <= max) out.push(buf.toString("utf8", start, e))
      else emitPieces(buf, start, e, max, out)
      start = nl + 1
      nl = buf.indexOf(LF, start)
    }
    if (start < end) this.append(buf, start, end, out)
    return out
  }

  /** Splits several chunks (one Stream chunk array) into one batch of lines. */
  pushAll(chunks: ReadonlyArray<Uint8Array>): Array<string> {
    const out: Array<string> = []
    for (let i = 0; i < chunks.length; i++) this.push(chunks[i]!, out)
    return out
  }

  /** End of input: the final unterminated line, if any bytes of it are buffered. */
  end(out: Array<string> = []): Array<string> {
    if (this.pendingLength > 0) this.flushPending(out)
    return out
  }

  // Appends buf[start, end) (no `\n` inside) to the unfinished line, emitting a piece whenever
  // the buffered bytes would exceed maxLineBytes + 1.
  private append(buf: Buffer, start: number, end: number, out: Array<string>): void {
    const max = this.maxLineBytes
    const capacity = max + 1
    const pending = (this.pending ??= Buffer.allocUnsafe(capacity))
    while (start < end) {
      if (this.pendingLength === capacity) {
        // More bytes follow a full buffer, so this line is longer than max even without a
        // trailing \r: emit a piece.
        const cut = cutPoint(pending, 0, max)
        out.push(pending.toString("utf8", 0, cut))
        pending.copyWithin(0, cut, capacity)
        this.pendingLength = capacity - cut
      }
      const n = Math.min(end - start, capacity - this.pendingLength)
      buf.copy(pending, this.pendingLength, start, start + n)
      this.pendingLength += n
      start += n
    }
  }

  private flushPending(out: Array<string>): void {
    const pending = this.pending!
    let e = this.pendingLength
    if (pending[e - 1] === CR) e--
    if (e <= this.maxLineBytes) out.push(pending.toString("utf8", 0, e))
    else emitPieces(pending, 0, e, this.maxLineBytes, out)
    this.pendingLength = 0
  }
}

// Emits b[start, end) as pieces of at most `max` bytes cut on character boundaries.
const emitPieces = (b: Buffer, start: number, end: number, max: number, out: Array<string>): void => {
  while (end - start > max) {
    const cut = cutPoint(b, start, max)
    out.push(b.toString("utf8", start, cut))
    start = cut
  }
  out.push(b.toString("utf8", start, end))
}

/**
 * Splits a byte stream into UTF-8 lines (see `LineSplitter` for the exact rules), emitting all
 * lines of one upstream chunk array as one downstream chunk; the final unterminated line is
 * emitted when the stream ends (also when it fails: the partial line comes out before the error).
 *
 * Not `Stream.decodeText` + `Stream.splitLines`: effect's splitLines accumulates an unterminated
 * line without bound (a plugin writing 10 MB without a newline would be held whole) and also
 * splits on a lone `\r`. We only reuse `Stream.mapAccumArray` to thread the splitter state.
 */
export const splitLines = (maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) => {
  checkMaxLineBytes(maxLineBytes)
  return <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
    Stream.mapAccumArray(
      self,
      () => new LineSplitter(maxLineBytes),
      (splitter, chunks) => [splitter, splitter.pushAll(chunks)] as const,
      { onHalt: (splitter) => splitter.end() }
    )
}

// ---------------------------------------------------------------------------------------------
// Level detection

type Severity = LogLevel.Severity

// Level names of JSON loggers (compared lower-cased); geth/log15 JSON writes "lvl":"dbug" etc.
const JSON_LEVELS: ReadonlyMap<string, Severity> = new Map<string, Severity>([
  ["trace", "Trace"],
  ["trce", "Trace"],
  ["verbo", "Trace"],
  ["verbose", "Trace"],
  ["debug", "Debug"],
  ["dbug", "Debug"],
  ["info", "Info"],
  ["warn", "Warn"],
  ["warning", "Warn"],
  ["error", "Error"],
  ["err", "Error"],
  ["eror", "Error"],
  ["dpanic", "Error"],
  ["fatal", "Fatal"],
  ["panic", "Fatal"],
  ["crit", "Fatal"],
  ["critical", "Fatal"]
])

// Level words of console encoders (upper case only): zap/avalanchego (VERBO … FATAL),
// geth/log15 as used by coreth (CRIT, and the old 4-letter TRCE/DBUG/EROR), go-hclog ([WARN]).
const CONSOLE_LEVELS: ReadonlyMap<string, Severity> = new Map<string, Severity>([
  ["TRACE", "Trace"],
  ["TRCE", "Trace"],
  ["VERBO", "Trace"],
  ["DEBUG", "Debug"],
  ["DBUG", "Debug"],
  ["INFO", "Info"],
  ["WARN", "Warn"],
  ["WARNING", "Warn"],
  ["ERROR", "Error"],
  ["EROR", "Error"],
  ["ERR", "Error"],
  ["DPANIC", "Error"],
  ["FATAL", "Fatal"],
  ["PANIC", "Fatal"],
  ["CRIT", "Fatal"]
])

const isSpace = (c: number): boolean => c === 32 || c === 9
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isUpper = (c: number): boolean => c >= 65 && c <= 90
const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95

const skipSpaces = (line: string, p: number): number => {
  while (isSpace(line.charCodeAt(p))) p++
  return p
}

// Skips ANSI SGR sequences (`ESC [ … m`) that colouring console encoders put around the level.
const skipAnsi = (line: string, p: number): number => {
  while (line.charCodeAt(p) === 27 && line.charCodeAt(p + 1) === 91) {
    const m = line.indexOf("m", p + 2)
    if (m === -1 || m - p > 16) return p
    p = m + 1
  }
  return p
}

// A console level token at `p`: `WORD` (followed by a non-word character or the end) or `[WORD]`.
const levelTokenAt = (line: string, p: number): Severity | undefined => {
  p = skipAnsi(line, p)
  const bracketed = line.charCodeAt(p) === 91 // [
  if (bracketed) p++
  const start = p
  while (p - start < 7 && isUpper(line.charCodeAt(p))) p++
  if (p - start < 3) return undefined
  const next = line.charCodeAt(p)
  if (bracketed ? next !== 93 : isWordChar(next)) return undefined
  return CONSOLE_LEVELS.get(line.slice(start, p))
}

const JSON_LEVEL_KEYS = ["level", "@level", "lvl"] as const

const jsonLevel = (line: string): Severity | undefined => {
  // Cheap filter before parsing: `level"` matches both "level" and "@level".
  if (!line.includes("level\"") && !line.includes("\"lvl\"")) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null) return undefined
  const o = parsed as Record<string, unknown>
  for (const key of JSON_LEVEL_KEYS) {
    const v = o[key]
    if (typeof v === "string") {
      const level = JSON_LEVELS.get(v.toLowerCase())
      if (level !== undefined) return level
    }
  }
  return undefined
}

/**
 * The log level of one line of plugin output:
 * - JSON lines (first non-space char `{`) with a string `level`, `@level` (hclog JSON) or `lvl`;
 * - console lines whose first token is an upper-case level word or `[LEVEL]` (zap/avalanchego,
 *   geth/coreth, go-hclog), or whose second token is, after a timestamp first token
 *   (`[11-27|04:50:00.000]` or anything starting with a digit, e.g. `2026-11-27T04:50:00.000Z`);
 * - a Go runtime crash line (`panic:` / `fatal error:` at the start) → Error;
 * - anything else → Info, on either stream (a Go plugin logs everything to stderr, so stderr is
 *   not a sign of an error).
 */
export const detectLevel = (line: string, _stream: OutputStream): Severity => {
  const p = skipSpaces(line, 0)
  const c = line.charCodeAt(p)
  if (c === 123) return jsonLevel(line) ?? "Info" // {
  if (c === 112 && line.startsWith("panic:", p)) return "Error" // p
  if (c === 102 && line.startsWith("fatal error:", p)) return "Error" // f
  const first = levelTokenAt(line, p)
  if (first !== undefined) return first
  let afterTimestamp = -1
  if (c === 91 && isDigit(line.charCodeAt(p + 1))) {
    const close = line.indexOf("]", p + 2)
    if (close !== -1) afterTimestamp = close + 1
  } else if (isDigit(c)) {
    const space = line.indexOf(" ", p + 1)
    if (space !== -1) afterTimestamp = space
  }
  if (afterTimestamp === -1) return "Info"
  return levelTokenAt(line, skipSpaces(line, afterTimestamp)) ?? "Info"
}

/**
 * Turns the byte stream of one output pipe into log records (split → detect), batched per
 * upstream chunk. Pipeable (`bytes.pipe(PluginLog.records("stderr"))`) or data-first.
 */
export const records: {
  (
    stream: OutputStream,
    options?: { readonly maxLineBytes?: number | undefined }
  ): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<LogRecord, E, R>
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    stream: OutputStream,
    options?: { readonly maxLineBytes?: number | undefined }
  ): Stream.Stream<LogRecord, E, R>
} = dual(
  (args) => Stream.isStream(args[0]),
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    stream: OutputStream,
    options?: { readonly maxLineBytes?: number | undefined }
  ): Stream.Stream<LogRecord, E, R> =>
    self.pipe(
      splitLines(options?.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES),
      Stream.mapArray((lines) =>
        Arr.map(lines, (line): LogRecord => ({ stream, line, level: detectLevel(line, stream) }))
      )
    )
)

// ---------------------------------------------------------------------------------------------
// RecentLines

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
