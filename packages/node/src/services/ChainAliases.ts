/**
 * Chain aliases (avalanchego's `ids.AliaserReader`, served to VMs as
 * `aliasreader.AliasReader`). The primary alias of a chain is its first one; a chain is also
 * known by its CB58 ID once it has been created.
 */
import { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Ref, Schema } from "effect"

export class AliasNotFound extends Schema.TaggedError<AliasNotFound>()("AliasNotFound", { reason: Schema.String }) {
  override get message() {
    return this.reason
  }
}

export interface ChainAliasesShape {
  readonly lookup: (alias: string) => Effect.Effect<Ids.Id, AliasNotFound>
  readonly primaryAlias: (chainId: Ids.Id) => Effect.Effect<string, AliasNotFound>
  readonly aliases: (chainId: Ids.Id) => Effect.Effect<ReadonlyArray<string>>
  /** Adds aliases of a chain (after those it has); an alias already taken by another chain is refused. */
  readonly add: (chainId: Ids.Id, aliases: ReadonlyArray<string>) => Effect.Effect<void, AliasNotFound>
}

export class ChainAliases extends Context.Service<ChainAliases, ChainAliasesShape>()("@vmre/node/ChainAliases") {
  /** An in-memory aliaser, starting with `initial` (chain → aliases). */
  static readonly layer = (initial: ReadonlyArray<readonly [Ids.Id, ReadonlyArray<string>]> = []): Layer.Layer<ChainAliases> =>
    Layer.effect(
      ChainAliases,
      Effect.gen(function*() {
        const byChain = yield* Ref.make(new Map<string, Array<string>>())
        const byAlias = yield* Ref.make(new Map<string, Ids.Id>())
        const add = (chainId: Ids.Id, aliases: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            const taken = yield* Ref.get(byAlias)
            for (const alias of aliases) {
              const owner = taken.get(alias)
              if (owner !== undefined && !Ids.equals(owner, chainId)) {
                return yield* new AliasNotFound({ reason: `alias already mapped to an ID: ${alias}` })
              }
            }
            yield* Ref.update(byAlias, (map) => new Map([...map, ...aliases.map((a) => [a, chainId] as const)]))
            yield* Ref.update(byChain, (map) => {
              const next = new Map(map)
              const list = [...(next.get(Ids.toHex(chainId)) ?? [])]
              for (const alias of aliases) if (!list.includes(alias)) list.push(alias)
              next.set(Ids.toHex(chainId), list)
              return next
            })
          })
        for (const [chainId, aliases] of initial) yield* Effect.orDie(add(chainId, aliases))
        return {
          add,
          lookup: (alias) =>
            Effect.flatMap(Ref.get(byAlias), (map) => {
              const id = map.get(alias)
              return id === undefined ? Effect.fail(new AliasNotFound({ reason: `there is no ID with alias: ${alias}` })) : Effect.succeed(id)
            }),
          primaryAlias: (chainId) =>
            Effect.flatMap(Ref.get(byChain), (map) => {
              const first = map.get(Ids.toHex(chainId))?.[0]
              return first === undefined ?
                Effect.fail(new AliasNotFound({ reason: `there is no alias for ID: ${Ids.toString(chainId)}` })) :
                Effect.succeed(first)
            }),
          aliases: (chainId) => Effect.map(Ref.get(byChain), (map) => map.get(Ids.toHex(chainId)) ?? [])
        }
      })
    )
}
