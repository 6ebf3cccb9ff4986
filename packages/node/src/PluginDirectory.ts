/**
 * The plugin directory as avalanchego and luxd lay it out: one executable per VM, named by
 * the VM's CB58 ID (or one of its aliases), an extension such as `.exe` ignored; and the
 * optional aliases file, `{"<vmID>": ["alias", …]}`.
 *
 * Unlike upstream, where a file with another name aborts the whole scan, every file that is
 * not a plugin is reported as skipped, with why, and the others still register.
 */
import { Ids } from "@vmre/wire"
import { Effect, Schema } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { InvalidVmAliases, PluginDirectoryInvalid } from "./Errors.ts"

export interface PluginFile {
  /** CB58 VM ID. */
  readonly vmId: string
  readonly path: string
}

export interface SkippedFile {
  readonly path: string
  readonly reason: string
}

export interface Scan {
  readonly plugins: ReadonlyArray<PluginFile>
  readonly skipped: ReadonlyArray<SkippedFile>
}

/** VM ID → its aliases, and alias → VM ID. */
export interface Aliases {
  readonly byVm: ReadonlyMap<string, ReadonlyArray<string>>
  readonly byAlias: ReadonlyMap<string, string>
}

export const noAliases: Aliases = { byVm: new Map(), byAlias: new Map() }

const AliasesDocument = Schema.Record(Schema.String, Schema.Array(Schema.String))

/** Reads and checks an aliases file: keys must be VM IDs, an alias may name one VM only. */
export const readAliases = Effect.fn("PluginDirectory.readAliases")(function*(file: string) {
  const fail = (reason: string) => new InvalidVmAliases({ path: file, reason })
  const text = yield* Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (error) => fail((error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error))
  })
  const document = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(AliasesDocument))(text).pipe(
    Effect.mapError((error) => fail(`unmarshalling failed: ${error.message}`))
  )
  const byVm = new Map<string, ReadonlyArray<string>>()
  const byAlias = new Map<string, string>()
  for (const [vmId, aliases] of Object.entries(document)) {
    if (Ids.idFromString(vmId) === undefined) return yield* fail(`${JSON.stringify(vmId)} is not a CB58 VM ID`)
    for (const alias of aliases) {
      const taken = byAlias.get(alias)
      if (taken !== undefined || Ids.idFromString(alias) !== undefined) {
        return yield* fail(`alias already mapped to an ID: ${alias}`)
      }
      byAlias.set(alias, vmId)
    }
    byVm.set(vmId, aliases)
  }
  return { byVm, byAlias } satisfies Aliases
})

/** Lists the directory's plugins, with the aliases file's names resolved to VM IDs. */
export const scan = Effect.fn("PluginDirectory.scan")(function*(dir: string, aliases: Aliases = noAliases) {
  const root = path.resolve(dir)
  const entries = yield* Effect.tryPromise({
    try: () => fs.readdir(root, { withFileTypes: true }),
    catch: (error) => {
      const code = (error as NodeJS.ErrnoException).code
      return new PluginDirectoryInvalid({
        path: root,
        reason: code === "ENOENT" ? "not found" : code === "ENOTDIR" ? "is not a directory" : `cannot be read: ${String(error)}`
      })
    }
  })
  const plugins: Array<PluginFile> = []
  const skipped: Array<SkippedFile> = []
  const seen = new Map<string, string>()
  for (const entry of [...entries].sort((a, b) => a.name.localeCompare(b.name))) {
    const file = path.join(root, entry.name)
    const skip = (reason: string) => skipped.push({ path: file, reason })
    const stat = yield* Effect.promise(() => fs.stat(file).catch(() => undefined))
    if (stat === undefined) {
      skip("a dangling link")
      continue
    }
    if (stat.isDirectory()) {
      skip("a directory")
      continue
    }
    if (!stat.isFile()) {
      skip("not a regular file")
      continue
    }
    // As Go's filepath.Ext: the last extension, which for `.gitkeep` is the whole name.
    const dot = entry.name.lastIndexOf(".")
    const name = dot === -1 ? entry.name : entry.name.slice(0, dot)
    if (name === "") {
      skip("a hidden file (its name without the extension is empty)")
      continue
    }
    const vmId = aliases.byAlias.get(name) ?? (Ids.idFromString(name) === undefined ? undefined : name)
    if (vmId === undefined) {
      skip(`its name ${JSON.stringify(name)} is neither a CB58 VM ID nor an alias from the aliases file`)
      continue
    }
    if ((stat.mode & 0o111) === 0) {
      skip("not executable (chmod +x it)")
      continue
    }
    const first = seen.get(vmId)
    if (first !== undefined) {
      skip(`VM ${vmId} already has a plugin in this directory: ${path.basename(first)}`)
      continue
    }
    seen.set(vmId, file)
    plugins.push({ vmId, path: file })
  }
  return { plugins, skipped } satisfies Scan
})
