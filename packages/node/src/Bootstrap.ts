/**
 * Brings a chain's VM up to a peer's tip as avalanchego's bootstrapper does: the tip and its
 * ancestors are fetched from the peer in `GetAncestors` batches (newest first, bounded in count,
 * bytes and time), each batch parsed by the local VM in one `BatchedParseBlock`, until the
 * chain reaches the local last accepted block; then the blocks are verified and accepted oldest
 * first. Everything goes through the chain's {@link BlockState}, so that a block is parsed once
 * and nothing else is asked of the VM: about two calls per block (verify, accept) and one per
 * batch.
 */
import type { Block, Call, Errors, GetAncestorsParams } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Duration, Effect, Schema } from "effect"
import type { BlockState } from "./BlockState.ts"

type Id = Ids.Id

/** Where the blocks come from: a peer's `GetAncestors` (the block and its ancestors, newest first). */
export interface BootstrapSource {
  readonly getAncestors: (params: GetAncestorsParams) => Call<ReadonlyArray<Uint8Array>>
}

export interface BootstrapOptions {
  /** The peer's last accepted block, to catch up to. */
  readonly tip: Id
  /** Blocks asked per `GetAncestors` (default 2,000, avalanchego's default). */
  readonly maxBlocksNum?: number | undefined
  /** Bytes asked per `GetAncestors` (default 2 MiB). */
  readonly maxBlocksSize?: number | undefined
  /** Time the peer may spend gathering one answer (default 50 ms, avalanchego's). */
  readonly maxBlocksRetrievalTime?: Duration.Input | undefined
}

export interface BootstrapResult {
  /** Blocks fetched and accepted. */
  readonly accepted: number
  /** `GetAncestors` calls made (each followed by one `BatchedParseBlock`). */
  readonly batches: number
  readonly height: bigint
}

/** The peer's blocks do not make a chain that extends the local one. */
export class BootstrapFailed extends Schema.TaggedError<BootstrapFailed>()("BootstrapFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `bootstrap failed: ${this.reason}`
  }
}

export const run = Effect.fn("Bootstrap.run")(function*(
  state: BlockState,
  source: BootstrapSource,
  options: BootstrapOptions
): Effect.fn.Return<BootstrapResult, BootstrapFailed | Errors.VmCallError> {
  const last = yield* state.lastAccepted
  const params = {
    maxBlocksNum: options.maxBlocksNum ?? 2000,
    maxBlocksSize: options.maxBlocksSize ?? 2 * 1024 * 1024,
    maxBlocksRetrievalTime: Duration.fromInputUnsafe(options.maxBlocksRetrievalTime ?? Duration.millis(50))
  }
  // Newest first, as fetched.
  const fetched: Array<Block> = []
  let next = options.tip
  let batches = 0
  let reached = Ids.equals(next, last.id)
  while (!reached) {
    const blocks = yield* source.getAncestors({ blkId: next, ...params })
    batches++
    if (blocks.length === 0) return yield* new BootstrapFailed({ reason: `the peer has no block ${Ids.toString(next)}` })
    const parsed = yield* state.batchedParseBlock(blocks)
    for (const block of parsed) {
      if (!Ids.equals(block.id, next)) {
        return yield* new BootstrapFailed({
          reason: `the peer answered block ${Ids.toString(block.id)} where ${Ids.toString(next)} was due`
        })
      }
      if (block.height <= last.height) {
        return yield* new BootstrapFailed({
          reason: `the peer's chain does not extend ours: its block at height ${block.height} is not our last accepted block`
        })
      }
      fetched.push(block)
      next = block.parentId
      if (block.height === last.height + 1n) {
        if (!Ids.equals(block.parentId, last.id)) {
          return yield* new BootstrapFailed({
            reason: `the peer's chain forks from ours: its block at height ${block.height} does not follow our last accepted block`
          })
        }
        reached = true
        break
      }
    }
  }
  for (let i = fetched.length - 1; i >= 0; i--) {
    const block = fetched[i]!
    yield* state.verify(block)
    yield* state.accept(block)
  }
  return { accepted: fetched.length, batches, height: (yield* state.lastAccepted).height } satisfies BootstrapResult
})
