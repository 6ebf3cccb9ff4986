/**
 * Summaries of V8 .cpuprofile files (from `node --cpu-prof`): self time per function and
 * per package, over one or more profiles. Also runnable:
 *   npx node bench/lib/cpuprofile.ts <file-or-dir>... [--top N] [--until-ms T]
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { SourceMap } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

export interface SelfTime {
  readonly name: string
  readonly ms: number
  readonly share: number
}

export interface ProfileSummary {
  readonly files: number
  readonly totalMs: number
  readonly functions: ReadonlyArray<SelfTime>
  readonly packages: ReadonlyArray<SelfTime>
}

const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

const shortUrl = (url: string): string => {
  const file = url.replace(/^file:\/\//, "")
  const nm = file.lastIndexOf("/node_modules/")
  if (nm !== -1) return file.slice(nm + "/node_modules/".length)
  return file.startsWith(repoRoot) ? file.slice(repoRoot.length) : file
}

/** Which package a frame belongs to: an npm package, a workspace package, node itself, or V8. */
const packageOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`
  const file = shortUrl(url)
  if (file !== url.replace(/^file:\/\//, "") || !file.startsWith("/")) {
    const parts = file.split("/")
    if (parts[0] === "packages" || parts[0] === "examples" || parts[0] === "bench") return `${parts[0]}/${parts[1]}`
    if (parts[0]!.startsWith("@")) return `${parts[0]}/${parts[1]}`
    return parts[0]!
  }
  return file
}

// A bundled plugin (e.g. examples/payload-chain/dist/payload-chain.mjs) is minified: frames in
// it are mapped back to their sources through the bundle's .map file, when there is one.
const sourceMaps = new Map<string, SourceMap | undefined>()
const sourceMapOf = (url: string): SourceMap | undefined => {
  if (!url.startsWith("file://") || url.includes("/node_modules/")) return undefined
  if (!sourceMaps.has(url)) {
    const file = `${url.slice("file://".length)}.map`
    let map: SourceMap | undefined
    try {
      if (existsSync(file)) map = new SourceMap(JSON.parse(readFileSync(file, "utf8")))
    } catch {
      map = undefined
    }
    sourceMaps.set(url, map)
  }
  return sourceMaps.get(url)
}

/** The frame's function name and location, through the bundle's source map if any. */
const original = (frame: ProfileNode["callFrame"]): { name: string; url: string; line: number } => {
  const map = sourceMapOf(frame.url)
  if (map !== undefined) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as {
      originalSource?: string
      originalLine?: number
      name?: string
    }
    if (entry.originalSource !== undefined) {
      const source = entry.originalSource.startsWith("file://") ?
        entry.originalSource :
        `file://${path.resolve(path.dirname(frame.url.slice("file://".length)), entry.originalSource)}`
      return { name: entry.name ?? frame.functionName, url: source, line: entry.originalLine ?? 0 }
    }
  }
  return { name: frame.functionName, url: frame.url, line: frame.lineNumber }
}

export const collect = (inputs: ReadonlyArray<string>): Array<string> =>
  inputs.flatMap((input) =>
    statSync(input).isDirectory() ?
      readdirSync(input).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(input, f)) :
      [input]
  )

/**
 * Self time over the profiles, ranked. With `untilMs`, only the first `untilMs` of each
 * profile count (e.g. a plugin's start-up, up to its handshake).
 */
export const summarize = (files: ReadonlyArray<string>, top = 15, untilMs = Number.POSITIVE_INFINITY): ProfileSummary => {
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  let totalUs = 0
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
    let elapsedUs = 0
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i]!)
      const dt = profile.timeDeltas[i + 1] ?? 0
      elapsedUs += profile.timeDeltas[i] ?? 0
      if (elapsedUs > untilMs * 1000) break
      if (node === undefined || dt <= 0) continue
      totalUs += dt
      const { line: lineNumber, name: functionName, url } = original(node.callFrame)
      const name = url === "" ?
        (functionName === "" ? "(anonymous native)" : functionName) :
        `${functionName === "" ? "(anonymous)" : functionName} ${shortUrl(url)}:${lineNumber + 1}`
      byFunction.set(name, (byFunction.get(name) ?? 0) + dt)
      const pkg = packageOf(url, functionName)
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt)
    }
  }
  const rank = (map: Map<string, number>): Array<SelfTime> =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({
      name,
      ms: us / 1000,
      share: totalUs === 0 ? 0 : us / totalUs
    }))
  return { files: files.length, totalMs: totalUs / 1000, functions: rank(byFunction), packages: rank(byPackage) }
}

export const format = (title: string, summary: ProfileSummary): string => {
  const lines = [`${title}: ${summary.files} profile(s), ${summary.totalMs.toFixed(0)} ms sampled`]
  lines.push("  top self time by function:")
  for (const f of summary.functions) lines.push(`    ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}`)
  lines.push("  by package:")
  for (const p of summary.packages) lines.push(`    ${(100 * p.share).toFixed(1).padStart(5)} %  ${p.ms.toFixed(0).padStart(6)} ms  ${p.name}`)
  return lines.join("\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  const option = (name: string): number | undefined => {
    const at = args.indexOf(name)
    return at === -1 ? undefined : Number(args[at + 1])
  }
  const top = option("--top") ?? 20
  const until = option("--until-ms") ?? Number.POSITIVE_INFINITY
  const inputs = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"))
  console.log(format(inputs.join(" "), summarize(collect(inputs), top, until)))
}
