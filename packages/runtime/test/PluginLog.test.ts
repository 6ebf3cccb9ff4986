import { it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { describe, expect } from "vitest"
import {
  detectLevel,
  LineSplitter,
  RecentLines,
  records,
  splitLines,
  TRUNCATION_MARKER
} from "../src/PluginLog.ts"

const enc = new TextEncoder()
const bytes = (s: string): Uint8Array => enc.encode(s)
const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8")

// Each Uint8Array is its own upstream chunk (one pull each), so state must carry across pulls.
const chunked = (...chunks: ReadonlyArray<Uint8Array>): Stream.Stream<Uint8Array> =>
  Stream.fromArray(chunks).pipe(Stream.rechunk(1))

const split = (chunks: ReadonlyArray<Uint8Array>, maxLineBytes?: number) =>
  Stream.runCollect(chunked(...chunks).pipe(splitLines(maxLineBytes)))

// Every way of cutting `data` into two chunks, plus one byte per chunk.
const cuttings = (data: Uint8Array): Array<Array<Uint8Array>> => {
  const out: Array<Array<Uint8Array>> = []
  for (let i = 0; i <= data.length; i++) out.push([data.subarray(0, i), data.subarray(i)])
  out.push(Array.from(data, (_, i) => data.subarray(i, i + 1)))
  return out
}

describe("splitLines", () => {
  it.effect("joins lines split across chunks", () =>
    Effect.gen(function*() {
      expect(yield* split([bytes("ab"), bytes("c\nde"), bytes("f\n"), bytes("g")])).toEqual(["abc", "def", "g"])
    }))

  it.effect("strips one trailing \\r, also when \\r and \\n are in different chunks; a lone \\r is content", () =>
    Effect.gen(function*() {
      expect(yield* split([bytes("a\r\n"), bytes("b\r"), bytes("\nc\r\n"), bytes("x\ry\n")])).toEqual([
        "a",
        "b",
        "c",
        "x\ry"
      ])
      expect(yield* split([bytes("a\r\r\n")])).toEqual(["a\r"])
    }))

  it.effect("decodes multi-byte UTF-8 split at any byte between chunks", () =>
    Effect.gen(function*() {
      const text = "héllo €uro 𝄞 clef\nsecond ✓ line\r\nthird ü"
      const expected = ["héllo €uro 𝄞 clef", "second ✓ line", "third ü"]
      for (const chunks of cuttings(bytes(text))) {
        expect(yield* split(chunks)).toEqual(expected)
      }
    }))

  it.effect("emits the final line without newline, and no phantom line after a final newline", () =>
    Effect.gen(function*() {
      expect(yield* split([bytes("x\ny")])).toEqual(["x", "y"])
      expect(yield* split([bytes("x\n")])).toEqual(["x"])
      expect(yield* split([bytes("tail without newline")])).toEqual(["tail without newline"])
      expect(yield* split([])).toEqual([])
      expect(yield* split([new Uint8Array(0), new Uint8Array(0)])).toEqual([])
    }))

  it.effect("keeps empty lines", () =>
    Effect.gen(function*() {
      expect(yield* split([bytes("\n\n a\n"), bytes("\n"), bytes("\r\n")])).toEqual(["", "", " a", "", ""])
    }))

  it.effect("emits the lines of one upstream chunk as one downstream chunk", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<string>> = []
      yield* chunked(bytes("a\nb\nc\n"), bytes("d\ne\n")).pipe(
        splitLines(),
        Stream.runForEachArray((lines) => Effect.sync(() => void batches.push(lines)))
      )
      expect(batches).toEqual([["a", "b", "c"], ["d", "e"]])
    }))

  it.effect("emits the partial line and then fails when upstream fails", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const error = yield* chunked(bytes("a\nb")).pipe(
        Stream.concat(Stream.fail("boom" as const)),
        splitLines(),
        Stream.runForEach((line) => Effect.sync(() => void seen.push(line))),
        Effect.flip
      )
      expect(error).toBe("boom")
      expect(seen).toEqual(["a", "b"])
    }))

  it.effect("a 1 MiB line without newline comes out in 64 KiB pieces with nothing lost", () =>
    Effect.gen(function*() {
      const size = 1024 * 1024 + 1000
      const data = new Uint8Array(size)
      for (let i = 0; i < size; i++) data[i] = 97 + (i % 26)
      const chunks: Array<Uint8Array> = []
      for (let o = 0; o < size; o += 10_000) chunks.push(data.subarray(o, o + 10_000))
      const pieces = yield* split(chunks)
      expect(pieces.length).toBe(17)
      expect(pieces.slice(0, 16).every((p) => p.length === 64 * 1024)).toBe(true)
      expect(pieces[16]!.length).toBe(1000)
      expect(pieces.reduce((n, p) => n + utf8Length(p), 0)).toBe(size)
      expect(pieces.join("")).toBe(Buffer.from(data).toString("latin1"))
    }))

  it.effect("a long line inside a single chunk is also cut into pieces", () =>
    Effect.gen(function*() {
      const line = "x".repeat(25)
      expect(yield* split([bytes(`${line}\nok\n`)], 10)).toEqual(["x".repeat(10), "x".repeat(10), "x".repeat(5), "ok"])
    }))

  it.effect("cuts long multi-byte lines on character boundaries", () =>
    Effect.gen(function*() {
      for (const [char, max] of [["€", 64], ["𝄞", 10], ["é", 5]] as const) {
        const line = char.repeat(100)
        const b = bytes(line)
        // one chunk; one byte per chunk; a cut inside a character
        for (const chunks of [[bytes(line + "\n")], cuttings(b).at(-1)!, [b.subarray(0, 33), b.subarray(33)]]) {
          const pieces = yield* split(chunks, max)
          expect(pieces.join("")).toBe(line)
          for (const piece of pieces) {
            expect(piece).not.toContain("\uFFFD")
            expect(utf8Length(piece)).toBeLessThanOrEqual(max)
          }
          // Full pieces use as much of the bound as whole characters allow.
          const charBytes = utf8Length(char)
          for (const piece of pieces.slice(0, -1)) {
            expect(utf8Length(piece)).toBe(max - (max % charBytes))
          }
        }
      }
    }))

  it.effect("a line of exactly maxLineBytes stays whole, also with \\r\\n split over chunks", () =>
    Effect.gen(function*() {
      const line = "y".repeat(16)
      expect(yield* split([bytes(line + "\n")], 16)).toEqual([line])
      expect(yield* split([bytes(line), bytes("\r"), bytes("\n")], 16)).toEqual([line])
      expect(yield* split([bytes(line + "\r"), bytes("\nz")], 16)).toEqual([line, "z"])
      expect(yield* split([bytes(line + "z"), bytes("\n")], 16)).toEqual([line, "z"])
      expect(yield* split([bytes(line + "z\r"), bytes("\n")], 16)).toEqual([line, "z"])
    }))

  it("rejects a maxLineBytes that cannot hold one character", () => {
    expect(() => splitLines(3)).toThrow(RangeError)
    expect(() => new LineSplitter(0)).toThrow(RangeError)
  })
})

describe("LineSplitter (bounded buffering)", () => {
  it("holds at most maxLineBytes + 1 bytes of a 10 MiB line and emits full pieces as it goes", () => {
    const max = 64 * 1024
    const splitter = new LineSplitter(max)
    const chunk = new Uint8Array(7_777).fill(65)
    let emitted = 0
    let pieces = 0
    for (let fed = 0; fed < 10 * 1024 * 1024; fed += chunk.length) {
      for (const piece of splitter.push(chunk)) {
        expect(piece.length).toBe(max)
        emitted += piece.length
        pieces++
      }
      expect(splitter.pendingBytes).toBeLessThanOrEqual(max + 1)
    }
    const fed = Math.ceil((10 * 1024 * 1024) / chunk.length) * chunk.length
    expect(pieces).toBeGreaterThanOrEqual(Math.floor(fed / max) - 1)
    const rest = splitter.end()
    expect(rest.length).toBe(1)
    expect(emitted + rest[0]!.length).toBe(fed)
    expect(splitter.pendingBytes).toBe(0)
  })
})

describe("detectLevel", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    // JSON
    [`{"level":"warn","msg":"x"}`, "Warn"],
    [`{"@level":"ERROR","@message":"boom","@timestamp":"2026-11-27T04:50:00.000Z"}`, "Error"],
    [`{"lvl":"dbug","msg":"x"}`, "Debug"],
    [`{"lvl":"eror","msg":"x"}`, "Error"],
    [`{"level":"Trace"}`, "Trace"],
    [`{"level":"DEBUG"}`, "Debug"],
    [`{"level":"info"}`, "Info"],
    [`{"level":"WARNING"}`, "Warn"],
    [`{"level":"err"}`, "Error"],
    [`{"level":"fatal"}`, "Fatal"],
    [`{"level":"panic"}`, "Fatal"],
    [`{"level":"crit"}`, "Fatal"],
    [`   {"level":"error"}`, "Error"],
    [`{"msg":"no level here","level_x":1}`, "Info"],
    [`{"level":"error"`, "Info"], // not JSON
    [`{"level":40}`, "Info"], // numeric levels are not interpreted
    [`{"level":"loud"}`, "Info"],
    [`{"msg":{"level":"error"}}`, "Info"], // only the top level counts
    // avalanchego / zap console, geth-style (coreth)
    ["INFO [11-27|04:50:00.000] msg", "Info"],
    ["WARN [11-27|04:50:00.000] <C Chain> msg", "Warn"],
    ["ERROR [11-27|04:50:00.000] msg", "Error"],
    ["DEBUG[11-27|04:50:00.000] msg", "Debug"],
    ["CRIT [11-27|04:50:00.000] msg", "Fatal"],
    ["EROR[11-27|04:50:00.000] msg", "Error"],
    ["[11-27|04:50:00.000] WARN vm/x.go:12 msg", "Warn"],
    ["[11-27|04:50:00.000] ERROR vm/x.go:12 msg", "Error"],
    ["[11-27|04:50:00.000] DEBUG vm/x.go:12 msg", "Debug"],
    ["[11-27|04:50:00.000] TRACE vm/x.go:12 msg", "Trace"],
    ["[11-27|04:50:00.000] VERBO vm/x.go:12 msg", "Trace"],
    ["[11-27|04:50:00.000] FATAL vm/x.go:12 msg", "Fatal"],
    ["[11-27|04:50:00.000] INFO vm/x.go:12 msg", "Info"],
    ["[11-27|04:50:00.000] \x1b[31mERROR\x1b[0m vm/x.go:12 msg", "Error"],
    // go-hclog
    ["2026-11-27T04:50:00.000Z [WARN]  plugin: msg", "Warn"],
    ["2026-11-27T04:50:00.000Z [ERROR] plugin: msg", "Error"],
    ["2026-11-27T04:50:00.000Z [DEBUG] plugin: msg", "Debug"],
    ["2026-11-27T04:50:00.000Z [TRACE] plugin: msg", "Trace"],
    ["2026-11-27T04:50:00.000Z [INFO]  plugin: msg", "Info"],
    ["[ERROR] plugin: no timestamp", "Error"],
    // Go runtime crash
    ["panic: runtime error: index out of range [3] with length 3", "Error"],
    ["fatal error: all goroutines are asleep - deadlock!", "Error"],
    ["goroutine 1 [running]:", "Info"],
    ["\t/usr/local/go/src/runtime/panic.go:770 +0x132", "Info"],
    // plain text, and words that merely look like levels
    ["user message mentions ERROR here", "Info"],
    ["Error: mixed case is prose, not a level", "Info"],
    ["error: lower case too", "Info"],
    ["ERRORS: 3", "Info"],
    ["WARNINGS found", "Info"],
    ["WARN_LEVEL=3", "Info"],
    ["[foo] ERROR not a timestamp", "Info"],
    ["2026 was the year of the ERROR", "Info"],
    ["a panic: mid-line is not a crash", "Info"],
    ["", "Info"],
    ["   ", "Info"]
  ]

  for (const [line, level] of cases) {
    it(`${JSON.stringify(line)} → ${level}`, () => {
      expect(detectLevel(line, "stderr")).toBe(level)
      expect(detectLevel(line, "stdout")).toBe(level)
    })
  }
})

describe("records", () => {
  it.effect("splits and tags each line with its stream and level", () =>
    Effect.gen(function*() {
      const out = yield* Stream.runCollect(
        chunked(bytes("[11-27|04:50:00.000] WARN x.go:1 slow\nhello\n"), bytes(`{"@level":"error","@message":"m"}`)).pipe(
          records("stderr")
        )
      )
      expect(out).toEqual([
        { stream: "stderr", line: "[11-27|04:50:00.000] WARN x.go:1 slow", level: "Warn" },
        { stream: "stderr", line: "hello", level: "Info" },
        { stream: "stderr", line: `{"@level":"error","@message":"m"}`, level: "Error" }
      ])
    }))

  it.effect("is data-first too and honours maxLineBytes", () =>
    Effect.gen(function*() {
      const out = yield* Stream.runCollect(records(chunked(bytes("ERROR abcdefgh\n")), "stdout", { maxLineBytes: 8 }))
      expect(out).toEqual([
        { stream: "stdout", line: "ERROR ab", level: "Error" },
        { stream: "stdout", line: "cdefgh", level: "Info" }
      ])
    }))
})

describe("RecentLines", () => {
  it("keeps the last maxLines lines, oldest first, across many wrap-arounds", () => {
    const tail = new RecentLines({ maxLines: 7 })
    for (let i = 0; i < 1000; i++) tail.push(`line ${i}`)
    expect(tail.snapshot()).toEqual([993, 994, 995, 996, 997, 998, 999].map((i) => `line ${i}`))
    expect(tail.size).toBe(7)
  })

  it("accepts a bare line count", () => {
    const tail = new RecentLines(2)
    for (const l of ["a", "b", "c"]) tail.push(l)
    expect(tail.snapshot()).toEqual(["b", "c"])
  })

  it("evicts the oldest lines to stay within the byte cap", () => {
    const tail = new RecentLines({ maxLines: 50, maxBytes: 20, maxLineBytes: 20 })
    tail.push("aaaaaaaa")
    tail.push("bbbbbbbb")
    expect(tail.byteLength).toBe(16)
    tail.push("cccccccc")
    expect(tail.snapshot()).toEqual(["bbbbbbbb", "cccccccc"])
    expect(tail.byteLength).toBe(16)
    tail.push("€€€€€€") // 18 bytes: only room for itself
    expect(tail.snapshot()).toEqual(["€€€€€€"])
    expect(tail.byteLength).toBe(18)
  })

  it("truncates a stored line to maxLineBytes on a character boundary, with a marker", () => {
    const tail = new RecentLines({ maxLines: 5, maxBytes: 100, maxLineBytes: 10 })
    tail.push("a".repeat(100))
    tail.push("€€€€€") // 15 bytes
    tail.push("€€€") // 9 bytes: fits
    tail.push("𝄞𝄞𝄞") // 12 bytes
    const [ascii, euro, fits, clef] = tail.snapshot()
    expect(ascii).toBe("a".repeat(7) + TRUNCATION_MARKER)
    expect(euro).toBe("€€" + TRUNCATION_MARKER)
    expect(fits).toBe("€€€")
    expect(clef).toBe("𝄞" + TRUNCATION_MARKER)
    for (const line of tail.snapshot()) expect(utf8Length(line)).toBeLessThanOrEqual(10)
    expect(tail.byteLength).toBe(10 + 9 + 9 + 7)
  })

  it("bounds total bytes by maxBytes whatever is pushed", () => {
    const tail = new RecentLines({ maxLines: 50, maxBytes: 1024, maxLineBytes: 4096 })
    expect(tail.maxLineBytes).toBe(1024)
    for (let i = 0; i < 500; i++) tail.push("é".repeat(i * 7))
    const held = tail.snapshot()
    expect(held.reduce((n, l) => n + utf8Length(l), 0)).toBe(tail.byteLength)
    expect(tail.byteLength).toBeLessThanOrEqual(1024)
    expect(held.at(-1)!.endsWith(TRUNCATION_MARKER)).toBe(true)
  })

  it("snapshot is a copy; clear empties", () => {
    const tail = new RecentLines(3)
    tail.push("a")
    const snap = tail.snapshot()
    tail.push("b")
    expect(snap).toEqual(["a"])
    tail.clear()
    expect(tail.snapshot()).toEqual([])
    expect(tail.byteLength).toBe(0)
    tail.push("c")
    expect(tail.snapshot()).toEqual(["c"])
  })

  it("rejects impossible caps", () => {
    expect(() => new RecentLines(0)).toThrow(RangeError)
    expect(() => new RecentLines({ maxBytes: 2 })).toThrow(RangeError)
    expect(() => new RecentLines({ maxLineBytes: 1.5 })).toThrow(RangeError)
  })
})
