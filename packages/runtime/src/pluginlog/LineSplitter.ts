/**
 * Splitting a plugin's output bytes into lines: LF or CRLF ends a line, invalid UTF-8 is
 * replaced, and a line longer than the bound is emitted in pieces cut on character
 * boundaries, so that one endless line never makes the host buffer it whole.
 */
import { Buffer } from "node:buffer"
import { Stream } from "effect"

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
export const cutPoint = (b: Buffer, start: number, max: number): number => {
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
