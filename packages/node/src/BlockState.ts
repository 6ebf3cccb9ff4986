/**
 * What the node knows of a chain's blocks, in front of its VM's client: the role of
 * avalanchego's `chain.State`. Blocks the node has seen are answered from here, so that
 * repeated `GetBlock`/`ParseBlock` of known blocks and questions of status make no RPC:
 *
 * - verified blocks (processing, verified, not decided): kept until decided — consensus bounds them;
 * - decided blocks (accepted or rejected): the most recent `decidedCacheSize`;
 * - parsed or built blocks not yet verified: the most recent `unverifiedCacheSize`;
 * - ids the VM said it does not have: the most recent `missingCacheSize`;
 * - block bytes → id: the most recent `bytesCacheSize` (an id is the hash of its bytes: it never goes stale);
 * - accepted heights → id, and the last accepted block.
 *
 * A block's status is this side's record of what was decided through it, never the VM's stale
 * copy: a parse of an accepted block's bytes answers it as accepted, a rejected block stays
 * rejected, a block whose verification failed is verified again by the VM when asked.
 *
 * Every block call of the chain must go through it (a block the VM learns behind its back could
 * be answered as missing). A chain makes a new one for each run of its VM: a relaunched VM has
 * lost its undecided blocks.
 */
import type { Block, BlockContextOptions, Call, ChainVmClient, LastAccepted } from "@vmre/runtime"
import { Ids, WireErrors } from "@vmre/wire"
import { type DateTime, Effect, Metric } from "effect"
import { LRUCache } from "lru-cache"

type Id = Ids.Id

export interface BlockStateOptions {
  /** Decided blocks kept (default 2,048). */
  readonly decidedCacheSize?: number | undefined
  /** Parsed or built blocks not yet verified (default 2,048). */
  readonly unverifiedCacheSize?: number | undefined
  /** Ids the VM does not have (default 2,048). */
  readonly missingCacheSize?: number | undefined
  /** Block bytes → id entries (default 2,048). */
  readonly bytesCacheSize?: number | undefined
  /** Accepted heights → id (default 8,192). */
  readonly heightCacheSize?: number | undefined
  /** The chain's name: hits and misses are counted in `vmre_chain_block_cache_{hits,misses}_total{chain}`. */
  readonly chain?: string | undefined
}

export const metrics = {
  hits: Metric.counter("vmre_chain_block_cache_hits_total", {
    description: "Block questions a chain's block state answered without a VM call",
    incremental: true
  }),
  misses: Metric.counter("vmre_chain_block_cache_misses_total", {
    description: "Block questions a chain's block state passed to the VM",
    incremental: true
  })
}

/** What the cache saved: calls answered here, calls that went to the VM. */
export interface BlockStateStats {
  readonly hits: number
  readonly misses: number
}

export interface BlockState {
  /** A block by id: from the cache, else the VM (a NotFound is remembered until the block is seen). */
  readonly getBlock: (id: Id) => Call<Block, WireErrors.VmKnownError>
  /** A block from its bytes: bytes seen before make no RPC. */
  readonly parseBlock: (bytes: Uint8Array) => Call<Block>
  /** Many blocks from their bytes, in order: only the unknown ones go to the VM, in one `BatchedParseBlock`. */
  readonly batchedParseBlock: (blocks: ReadonlyArray<Uint8Array>) => Call<ReadonlyArray<Block>>
  readonly buildBlock: (options?: BlockContextOptions) => Call<Block>
  /** `BlockVerify`; the block counts as verified only when the VM said so. */
  readonly verify: (block: Block, options?: BlockContextOptions) => Call<DateTime.Utc>
  readonly accept: (block: Block) => Call<void>
  readonly reject: (block: Block) => Call<void>
  /** The id accepted at `height`: accepted heights are final, asked of the VM once. */
  readonly getBlockIdAtHeight: (height: bigint) => Call<Id, WireErrors.VmKnownError>
  readonly lastAccepted: Effect.Effect<LastAccepted>
  readonly stats: Effect.Effect<BlockStateStats>
}

const key = (id: Id): string => Ids.toHex(id)
const bytesKey = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")

const withStatus = (block: Block, status: Block["status"]): Block => block.status === status ? block : { ...block, status }

export const make = (client: ChainVmClient, lastAccepted: LastAccepted, options: BlockStateOptions = {}): BlockState => {
  const verified = new Map<string, Block>()
  const decided = new LRUCache<string, Block>({ max: options.decidedCacheSize ?? 2048 })
  const unverified = new LRUCache<string, Block>({ max: options.unverifiedCacheSize ?? 2048 })
  const missing = new LRUCache<string, true>({ max: options.missingCacheSize ?? 2048 })
  const bytesToId = new LRUCache<string, string>({ max: options.bytesCacheSize ?? 2048 })
  const heights = new LRUCache<bigint, Id>({ max: options.heightCacheSize ?? 8192 })
  let last: LastAccepted = lastAccepted
  const counts = { hits: 0, misses: 0 }
  heights.set(lastAccepted.height, lastAccepted.id)

  const cached = (k: string): Block | undefined => verified.get(k) ?? decided.get(k) ?? unverified.get(k)

  /**
   * A block the VM just answered (`bytes`: the key of its bytes, when the caller has it): the
   * record here wins over its status (what was decided here is known here).
   */
  const remember = (block: Block, bytes = bytesKey(block.bytes)): Block => {
    const k = key(block.id)
    missing.delete(k)
    bytesToId.set(bytes, k)
    const known = cached(k)
    if (known !== undefined) return known
    if (block.status === "Accepted" || block.status === "Rejected") {
      decided.set(k, block)
      return block
    }
    const fresh = withStatus(block, "Processing")
    unverified.set(k, fresh)
    return fresh
  }

  /** The VM decided `block`: it leaves the undecided blocks for the decided ones. */
  const decide = (block: Block, status: "Accepted" | "Rejected"): Block => {
    const k = key(block.id)
    const decidedBlock = withStatus(verified.get(k) ?? unverified.get(k) ?? block, status)
    verified.delete(k)
    unverified.delete(k)
    decided.set(k, decidedBlock)
    return decidedBlock
  }

  const chain = options.chain
  const counters = chain === undefined ? undefined : {
    hits: Metric.withAttributes(metrics.hits, { chain }),
    misses: Metric.withAttributes(metrics.misses, { chain })
  }
  /** Counts `n` questions answered here (hits) or passed to the VM (misses), then `then`. */
  const tally = <A, E>(kind: keyof BlockStateStats, n: number, then: Effect.Effect<A, E>): Effect.Effect<A, E> => {
    counts[kind] += n
    return counters === undefined || n === 0 ? then : Effect.andThen(Metric.update(counters[kind], n), then)
  }
  const hitN = <A, E>(n: number, then: Effect.Effect<A, E>) => tally("hits", n, then)
  const missN = <A, E>(n: number, then: Effect.Effect<A, E>) => tally("misses", n, then)
  const hit = <A>(value: A) => hitN(1, Effect.succeed(value))

  const parseBlock = (bytes: Uint8Array): Call<Block> =>
    Effect.suspend(() => {
      const bytesK = bytesKey(bytes)
      const id = bytesToId.get(bytesK)
      const known = id === undefined ? undefined : cached(id)
      if (known !== undefined) return hit(known)
      return missN(1, Effect.map(client.parseBlock(bytes), (block) => remember(block, bytesK)))
    })

  return {
    getBlock: (id) =>
      Effect.suspend(() => {
        const k = key(id)
        const known = cached(k)
        if (known !== undefined) return hit(known)
        // As upstream: an id the VM did not have is not asked again until the block is seen
        // (every block reaches the VM through parse or build, and so through here).
        if (missing.has(k)) {
          return hitN(1, Effect.fail(new WireErrors.NotFound({ method: "GetBlock", subject: `block ${Ids.toHex(id)}` })))
        }
        return missN(
          1,
          client.getBlock(id).pipe(
            Effect.map(remember),
            Effect.tapErrorTag("NotFound", () => Effect.sync(() => missing.set(k, true)))
          )
        )
      }),

    parseBlock,

    batchedParseBlock: (blocks) =>
      Effect.suspend(() => {
        const keys = blocks.map(bytesKey)
        const answers: Array<Block | undefined> = keys.map((bytesK) => {
          const id = bytesToId.get(bytesK)
          return id === undefined ? undefined : cached(id)
        })
        const unknown = blocks.filter((_, i) => answers[i] === undefined)
        const unknownKeys = keys.filter((_, i) => answers[i] === undefined)
        if (unknown.length === 0) return hitN(blocks.length, Effect.succeed(answers as ReadonlyArray<Block>))
        return hitN(
          blocks.length - unknown.length,
          missN(
            unknown.length,
            Effect.map(client.batchedParseBlock(unknown), (parsed) => {
              let next = 0
              return answers.map((known) => {
                if (known !== undefined) return known
                const i = next++
                return remember(parsed[i]!, unknownKeys[i])
              })
            })
          )
        )
      }),

    buildBlock: (options) => Effect.map(client.buildBlock(options), remember),

    verify: (block, options) =>
      Effect.tap(client.blockVerify(block.bytes, options), () =>
        Effect.sync(() => {
          const k = key(block.id)
          if (decided.has(k)) return
          // A block parsed or built here has its bytes mapped already.
          if (!unverified.delete(k)) bytesToId.set(bytesKey(block.bytes), k)
          missing.delete(k)
          verified.set(k, withStatus(block, "Processing"))
        })),

    accept: (block) =>
      Effect.tap(client.blockAccept(block.id), () =>
        Effect.sync(() => {
          const accepted = decide(block, "Accepted")
          heights.set(accepted.height, accepted.id)
          if (accepted.height >= last.height) {
            last = { id: accepted.id, parentId: accepted.parentId, height: accepted.height, bytes: accepted.bytes, timestamp: accepted.timestamp }
          }
        })),

    reject: (block) => Effect.tap(client.blockReject(block.id), () => Effect.sync(() => decide(block, "Rejected"))),

    getBlockIdAtHeight: (height) =>
      Effect.suspend(() => {
        const known = height <= last.height ? heights.get(height) : undefined
        if (known !== undefined) return hit(known)
        return missN(
          1,
          Effect.tap(client.getBlockIdAtHeight(height), (id) =>
            Effect.sync(() => {
              // Only heights at or below the last accepted one are final.
              if (height <= last.height) heights.set(height, id)
            }))
        )
      }),

    lastAccepted: Effect.sync(() => last),

    stats: Effect.sync(() => ({ ...counts }))
  }
}
