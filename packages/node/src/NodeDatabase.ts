/**
 * The node's own key-value store, which every chain's database is a prefixed view of
 * (see {@link PrefixDatabase}). It lives as long as the layer: chains and their VMs come and
 * go, the store stays open.
 */
import { Database, LevelDatabase, MemoryDatabase } from "@vmre/rpcdb"
import { Context, Effect, Layer } from "effect"

export class NodeDatabase extends Context.Service<NodeDatabase, Database.Database>()("@vmre/node/NodeDatabase") {
  /** A LevelDB store in `dir` (created when missing), closed with the layer. */
  static readonly layerLevel = (dir: string): Layer.Layer<NodeDatabase, Database.DatabaseFailure> =>
    Layer.effect(NodeDatabase, LevelDatabase.open(dir))

  /** An in-memory store: for tests and throwaway dev chains. */
  static readonly layerMemory: Layer.Layer<NodeDatabase> = Layer.effect(
    NodeDatabase,
    Effect.tap(MemoryDatabase.make, (db) => Effect.addFinalizer(() => Effect.ignore(db.close)))
  )
}
