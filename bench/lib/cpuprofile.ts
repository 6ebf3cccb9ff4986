/**
 * Summaries of V8 .cpuprofile files (from `node --cpu-prof`): self time per function and
 * per package, over one or more profiles. Also runnable:
 *   npx node bench/lib/cpuprofile.ts <file-or-dir>... [--top N]
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
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

export const collect = (inputs: ReadonlyArray<string>): Array<string> =>
  inputs.flatMap((input) =>
    statSync(input).isDirectory() ?
      readdirSync(input).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(input, f)) :
      [input]
  )

export const summarize = (files: ReadonlyArray<string>, top = 15): ProfileSummary => {
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  let totalUs = 0
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i]!)
      const dt = profile.timeDeltas[i + 1] ?? 0
      if (node === undefined || dt <= 0) continue
      totalUs += dt
      const { functionName, lineNumber, url } = node.callFrame
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
  const topAt = args.indexOf("--top")
  const top = topAt === -1 ? 20 : Number(args[topAt + 1])
  const inputs = args.filter((a, i) => a !== "--top" && i !== topAt + 1)
  console.log(format(inputs.join(" "), summarize(collect(inputs), top)))
}
