/**
 * A one-line status on a terminal: what vmre is waiting for (the plugin's handshake, the end
 * of a stop's grace period), rewritten in place and erased when the wait ends. Log lines
 * printed meanwhile go above it. Nothing at all when stderr is not a terminal, so that logs
 * and pipes see only log lines. The entry point owns one instance.
 *
 * Every log line goes through `print`, which bounds what waits in memory for a slow reader of
 * stderr (a pager, a full pipe, an unread FIFO): past `MAX_PENDING_BYTES` lines are dropped,
 * counted, and the count is written as soon as the reader catches up. Dropping, not slowing
 * the plugin: a node must not be slowed by whoever reads its log.
 */
import { Context, Effect, Layer } from "effect"

const ERASE = "\r\x1b[2K"

/** What may wait in memory for stderr's reader before lines are dropped. */
export const MAX_PENDING_BYTES = 4 * 1024 * 1024

export interface StatusLineState {
  readonly show: (text: string) => void
  readonly clear: () => void
  /** Writes a whole line (a log entry), keeping the status below it; drops it if too much is pending. */
  readonly print: (line: string) => void
  /** Lines dropped and not reported yet (reported when the reader catches up). */
  readonly dropped: () => number
}

export class StatusLine extends Context.Service<StatusLine, StatusLineState>()("@vmre/cli/StatusLine") {
  static readonly make = (stream: NodeJS.WriteStream, maxPendingBytes = MAX_PENDING_BYTES): StatusLineState => {
    const tty = stream.isTTY === true
    let current: string | undefined
    let dropped = 0
    let waitingForDrain = false
    const reportDropped = () => {
      waitingForDrain = false
      if (dropped === 0) return
      const count = dropped
      dropped = 0
      stream.write(`vmre: WARN ${count} log line(s) dropped: stderr was not read fast enough\n`)
    }
    return {
      show: (text) => {
        if (!tty) return
        current = text
        stream.write(`${ERASE}vmre: ${text}`)
      },
      clear: () => {
        if (current === undefined) return
        current = undefined
        stream.write(ERASE)
      },
      print: (line) => {
        if (stream.writableLength > maxPendingBytes) {
          dropped++
          if (!waitingForDrain) {
            waitingForDrain = true
            stream.once("drain", reportDropped)
          }
          return
        }
        stream.write(current === undefined ? `${line}\n` : `${ERASE}${line}\nvmre: ${current}`)
      },
      dropped: () => dropped
    }
  }

  /** Plain stderr, no status: for embedding and tests. */
  static readonly layer: Layer.Layer<StatusLine> = Layer.sync(StatusLine, () => StatusLine.make(process.stderr))
}

/** Runs `effect` with `text` shown as the status line while it runs. */
export const whileWaiting = (text: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | StatusLine> =>
  Effect.flatMap(StatusLine, (status) =>
    Effect.acquireUseRelease(
      Effect.sync(() => status.show(text)),
      () => effect,
      () => Effect.sync(status.clear)
    ))
