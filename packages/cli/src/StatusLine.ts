/**
 * A one-line status on a terminal: what vmre is waiting for (the plugin's handshake, the end
 * of a stop's grace period), rewritten in place and erased when the wait ends. Log lines
 * printed meanwhile go above it. Nothing at all when stderr is not a terminal, so that logs
 * and pipes see only log lines. The entry point owns one instance.
 */
import { Context, Effect, Layer } from "effect"

const ERASE = "\r\x1b[2K"

export interface StatusLineState {
  readonly show: (text: string) => void
  readonly clear: () => void
  /** Writes a whole line (a log entry), keeping the status below it. */
  readonly print: (line: string) => void
}

export class StatusLine extends Context.Service<StatusLine, StatusLineState>()("@vmre/cli/StatusLine") {
  static readonly make = (stream: NodeJS.WriteStream): StatusLineState => {
    const tty = stream.isTTY === true
    let current: string | undefined
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
        stream.write(current === undefined ? `${line}\n` : `${ERASE}${line}\nvmre: ${current}`)
      }
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
