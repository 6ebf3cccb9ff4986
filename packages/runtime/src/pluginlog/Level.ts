/**
 * The level of a plugin's output line, as the Go loggers write it: JSON `level`/`@level`/`lvl`,
 * zap/avalanchego, geth/log15 and go-hclog console levels, Go panics.
 */
import type { LogLevel } from "effect"
import type { OutputStream } from "./Record.ts"


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
