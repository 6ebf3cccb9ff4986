/**
 * The READMEs' code, as a reader copies it: every ```ts block of the root README, each
 * package's and each example's is type-checked under the repository's strict settings, and the
 * runnable ones are run — the root README's embedding program launches the example VM, and the
 * VM-author guide's VM passes its own test.
 *
 * A block that starts with `// <name>.ts` is written under that name (so that `./ticker.ts`
 * resolves for the blocks beside it). A block without imports is a fragment of the README's
 * running example: it is checked after the README's prelude below, which declares what the
 * prose says it stands beside (the node composition of the README, a VM, its validators).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const work = path.join(root, ".cache", "docs")
const node = path.join(root, "node_modules", ".bin", "node")

const readmes = [
  "README.md",
  ...readdirSync(path.join(root, "packages")).map((p) => `packages/${p}/README.md`),
  ...readdirSync(path.join(root, "examples")).map((e) => `examples/${e}/README.md`)
].filter((file) => {
  try {
    readFileSync(path.join(root, file))
    return true
  } catch {
    return false
  }
})

/** What the root README's fragments stand beside. */
const rootPrelude = `import { NodeRuntime } from "@effect/platform-node"
import { type PayloadChainVm } from "@vmre/example-payload-chain"
import {
  AppNetwork, ChainAliases, HttpGateway, NodeConfig, NodeDatabase, NodeServices, SharedMemory, type Validator,
  ValidatorSet, VmFactory, VmRegistry, WarpSigner
} from "@vmre/node"
import { HttpHandlers } from "@vmre/plugin"
import { VmMetrics, VmRuntime } from "@vmre/runtime"
import { Effect, Layer } from "effect"
import { FetchHttpClient, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
declare const myValidators: ReadonlyArray<Validator>
declare const vm: PayloadChainVm
declare const jsonRpc: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
const NodeLive = VmFactory.layer().pipe(
  Layer.provideMerge(VmRegistry.layer({ pluginDir: "./plugins" })),
  Layer.provideMerge(NodeServices.layerSingleNode),
  Layer.provideMerge(VmRuntime.layer),
  Layer.provideMerge(NodeDatabase.layerLevel("./node-data/db")),
  Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: "./node-data/chainData" }))
)
void NodeRuntime
`
const preludes: Record<string, string> = { "README.md": rootPrelude }

interface Block {
  readonly readme: string
  readonly line: number
  readonly file: string
}

/** Writes every block of every README under .cache/docs/<readme>/, with its fragments' prelude. */
const writeBlocks = (): Array<Block> => {
  rmSync(work, { recursive: true, force: true })
  const blocks: Array<Block> = []
  for (const readme of readmes) {
    const dir = path.join(work, readme.replace(/\/?README\.md$/, "").replace(/\//g, "-") || "root")
    mkdirSync(dir, { recursive: true })
    const lines = readFileSync(path.join(root, readme), "utf8").split("\n")
    let start: number | undefined
    let n = 0
    for (let i = 0; i < lines.length; i++) {
      if (start === undefined && /^```(ts|typescript)\s*$/.test(lines[i]!)) start = i + 1
      else if (start !== undefined && /^```\s*$/.test(lines[i]!)) {
        const code = lines.slice(start, i).join("\n")
        const named = /^\/\/ (\S+\.ts)\b/.exec(code)?.[1]
        const fragment = !/^import /m.test(code)
        const file = path.join(dir, named ?? `block-${++n}-line-${start}.ts`)
        writeFileSync(file, fragment ? `${preludes[readme] ?? ""}\n${code}\nexport {}\n` : `${code}\n${/^export /m.test(code) ? "" : "export {}\n"}`)
        blocks.push({ readme, line: start, file })
        start = undefined
      }
    }
  }
  writeFileSync(
    path.join(work, "tsconfig.json"),
    JSON.stringify({
      extends: "../../tsconfig.json",
      // A reader's snippet may import more than it uses; everything else stays as strict.
      compilerOptions: { noUnusedLocals: false, noEmit: true },
      include: ["./**/*.ts"]
    })
  )
  return blocks
}

describe("the READMEs' code", () => {
  it.live("every TypeScript block type-checks; the runnable ones run", () =>
    Effect.sync(() => {
      const blocks = writeBlocks()
      expect(blocks.length).toBeGreaterThanOrEqual(15)
      const tsc = spawnSync(node, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(work, "tsconfig.json")], {
        cwd: root,
        encoding: "utf8",
        timeout: 120_000
      })
      expect(tsc.stdout + tsc.stderr, "type errors in README code (files under .cache/docs)").toBe("")
      expect(tsc.status).toBe(0)

      // The root README's embedding program: it launches the example VM, asks its version, stops it.
      const embedding = blocks.find((b) => b.readme === "README.md" && readFileSync(b.file, "utf8").includes("ChainVm.layerNoDeps"))!
      const ran = spawnSync(node, ["--conditions=@vmre/source", embedding.file], { cwd: root, encoding: "utf8", timeout: 60_000 })
      expect(ran.status, ran.stderr + ran.stdout).toBe(0)
      expect(ran.stdout + ran.stderr).toContain("version: payload-chain/0.1.0")

      // The VM-author guide's VM passes its own test (vitest, as its author runs it).
      const guide = blocks.find((b) => b.file.endsWith("ticker.test.ts"))!
      const config = path.join(path.dirname(guide.file), "vitest.config.ts")
      writeFileSync(
        config,
        `import { defineConfig } from "vitest/config"
export default defineConfig({ resolve: { conditions: ["@vmre/source"] }, ssr: { resolve: { conditions: ["@vmre/source"], externalConditions: ["@vmre/source"] } }, test: { include: ["*.test.ts"] } })
`
      )
      const tested = spawnSync(node, [path.join(root, "node_modules/vitest/vitest.mjs"), "run", "--config", config, "--root", path.dirname(guide.file)], {
        cwd: root,
        encoding: "utf8",
        timeout: 120_000,
        env: { ...process.env, CI: "true" }
      })
      expect(tested.status, tested.stdout + tested.stderr).toBe(0)
      expect(tested.stdout).toMatch(/1 passed/)
    }), 240_000)
})
