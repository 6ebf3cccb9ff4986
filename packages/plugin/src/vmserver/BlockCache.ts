/**
 * What the server remembers of the VM's blocks: verified, undecided blocks by id (the node's
 * BlockAccept and BlockReject carry only the id), and the last accepted block, from which
 * luxd's block status and the SDK's block gauges follow.
 */
import { Status as StatusEnum } from "@vmre/proto/vm/vm_pb"
import { Effect, Metric } from "effect"
import type { Block } from "../Block.ts"
import * as Id from "../Id.ts"
import * as Metrics from "../Metrics.ts"
import type { VmDefinition } from "../VmDefinition.ts"

export interface BlockCache<B extends Block> {
  /** A verified block, else the VM's `getBlock`. */
  readonly find: (id: Uint8Array) => Effect.Effect<B, unknown>
  /** The verified instance of a block with this id, if there is one. */
  readonly verifiedOf: (block: B) => B
  readonly isVerified: (id: Uint8Array) => boolean
  readonly addVerified: (block: B) => void
  /** The block asked for by `id` was accepted: no longer undecided, and the new last accepted. */
  readonly accepted: (id: Uint8Array, block: B) => void
  readonly rejected: (id: Uint8Array) => void
  readonly setLastAccepted: (block: Block) => void
  readonly clear: () => void
  /** luxd's block status: processing, accepted (on the accepted chain) or rejected. */
  readonly statusOf: (block: B) => Effect.Effect<StatusEnum>
  /** `vm_processing_blocks` and `vm_last_accepted_height` from the current state. */
  readonly updateGauges: Effect.Effect<void>
}

export const make = <B extends Block>(vm: VmDefinition<B>): BlockCache<B> => {
  const verified = new Map<string, B>()
  let lastAccepted: { readonly id: Uint8Array; readonly height: bigint } | undefined
  return {
    find: (id) =>
      Effect.suspend(() => {
        const block = verified.get(Id.toHex(id))
        return block === undefined ? vm.getBlock(id) : Effect.succeed(block)
      }),
    verifiedOf: (block) => verified.get(Id.toHex(block.id)) ?? block,
    isVerified: (id) => verified.has(Id.toHex(id)),
    addVerified: (block) => {
      verified.set(Id.toHex(block.id), block)
    },
    accepted: (id, block) => {
      verified.delete(Id.toHex(id))
      lastAccepted = { id: block.id, height: block.height }
    },
    rejected: (id) => {
      verified.delete(Id.toHex(id))
    },
    setLastAccepted: (block) => {
      lastAccepted = { id: block.id, height: block.height }
    },
    clear: () => verified.clear(),
    statusOf: (block) =>
      Effect.suspend(() => {
        if (verified.has(Id.toHex(block.id))) return Effect.succeed(StatusEnum.PROCESSING)
        if (lastAccepted === undefined || block.height > lastAccepted.height) {
          return Effect.succeed(StatusEnum.PROCESSING)
        }
        if (Id.equals(block.id, lastAccepted.id)) return Effect.succeed(StatusEnum.ACCEPTED)
        return vm.getBlockIdAtHeight(block.height).pipe(
          Effect.map((id) => (Id.equals(id, block.id) ? StatusEnum.ACCEPTED : StatusEnum.REJECTED)),
          Effect.catch(() => Effect.succeed(StatusEnum.PROCESSING))
        )
      }),
    updateGauges: Effect.suspend(() =>
      Effect.andThen(
        Metric.update(Metrics.processingBlocks, verified.size),
        lastAccepted === undefined ? Effect.void : Metric.update(Metrics.lastAcceptedHeight, Number(lastAccepted.height))
      )
    )
  }
}
