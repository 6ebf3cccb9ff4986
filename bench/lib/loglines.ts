/**
 * A realistic mix of plugin log lines (~85 bytes): avalanchego/coreth console, go-hclog,
 * hclog JSON, zap-style errors, plain text. Used by the flood fixture and the in-memory
 * pipeline figure, so that level detection does its real work.
 */
export const makeLine = (i: number): string => {
  switch (i % 8) {
    case 0:
      return `INFO [11-27|04:50:00.${String(i % 1000).padStart(3, "0")}] <C Chain> core/blockchain.go:1820 Inserted block n=${i}`
    case 1:
      return `[11-27|04:50:00.000] DEBUG vm/handler.go:${i % 1000} processed request id=${i} dur=1.2ms status=ok`
    case 2:
      return `2026-11-27T04:50:00.000Z [WARN]  plugin.vm: slow peer response: peer=NodeID-${i} took=2.1s`
    case 3:
      return `{"@level":"info","@message":"accepted block","@timestamp":"2026-11-27T04:50:00Z","h":${i}}`
    case 4:
      return `[11-27|04:50:00.000] ERROR vm/x.go:12 failed to gossip tx=0x${i.toString(16)} err="timeout"`
    default:
      return `user message number ${i} mentions ERROR here but is plain text, padded to ~80 bytes.`
  }
}

/** `count` lines (from line `first` on), newline-terminated, as one buffer. */
export const linesBuffer = (count: number, first = 0): Buffer =>
  Buffer.from(Array.from({ length: count }, (_, i) => makeLine(first + i)).join("\n") + (count > 0 ? "\n" : ""))
