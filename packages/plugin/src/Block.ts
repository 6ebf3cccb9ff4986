/**
 * A block, as a VM hands it to the SDK: its identity and place in the chain, its bytes, and
 * the three decisions consensus makes about it (verify, then accept or reject).
 *
 * The SDK never interprets `bytes`; it only hands them to the node (BuildBlock, GetBlock,
 * GetAncestors) and back to the VM's `parseBlock` (ParseBlock, BlockVerify).
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt"
import { Timestamp as WireTimestamp } from "@vmre/wire"
import { DateTime, type Effect, Result } from "effect"
import * as Id from "./Id.ts"

/** The context a block is verified or built with when the node runs proposervm. */
export interface BlockContext {
  /** The P-chain height the proposer committed to. */
  readonly pChainHeight: bigint
}

export interface Block {
  /** 32 bytes; usually `Id.sha256(bytes)`. */
  readonly id: Uint8Array
  /** 32 bytes; `Id.empty` for a genesis block. */
  readonly parentId: Uint8Array
  readonly height: bigint
  /** Sent to the node as a google.protobuf.Timestamp (millisecond precision). */
  readonly timestamp: Date | DateTime.DateTime
  readonly bytes: Uint8Array
  /**
   * Checks the block against its parent and the VM's rules. Failing rejects the block on
   * the node's side; the SDK forgets it. Succeeding makes it "processing": the SDK keeps it
   * retrievable by id until `accept` or `reject`.
   */
  readonly verify: Effect.Effect<void, unknown>
  /** Makes the block final: persist it and make it the last accepted block. */
  readonly accept: Effect.Effect<void, unknown>
  /** Drops the block (a conflicting block was accepted). */
  readonly reject: Effect.Effect<void, unknown>
  /**
   * Optional: verification with the proposer's P-chain height (BlockVerify with
   * `p_chain_height` set). A block without it fails such a BlockVerify, as upstream.
   */
  readonly verifyWithContext?: (context: BlockContext) => Effect.Effect<void, unknown>
  /**
   * Optional: whether the node should verify this block with context (the responses'
   * `verify_with_context` flag). Defaults to whether `verifyWithContext` is defined.
   */
  readonly shouldVerifyWithContext?: Effect.Effect<boolean, unknown>
}

/** The block's timestamp as a `Date`. */
export const timestampDate = (block: Pick<Block, "timestamp">): Date => {
  const t = block.timestamp
  return DateTime.isDateTime(t) ? DateTime.toDateUtc(t) : t
}

/** A valid google.protobuf.Timestamp for `date`, or a reason why there is none. */
export const toTimestamp = (date: Date): { readonly timestamp: Timestamp } | { readonly problem: string } => {
  const ms = date.getTime()
  if (!Number.isFinite(ms)) return { problem: "the timestamp is not a valid date" }
  return Result.match(WireTimestamp.fromMillis(ms), {
    onSuccess: (timestamp) => ({ timestamp }),
    onFailure: () => ({
      problem: `the timestamp ${date.toISOString()} is outside the range of google.protobuf.Timestamp`
    })
  })
}

/** Checks what the wire requires of a block the VM returned; the reason if it is unfit. */
export const problemOf = (block: Block): string | undefined => {
  if (!(block.id instanceof Uint8Array) || !Id.isId(block.id)) {
    return `the vm returned a block id of ${block.id?.length ?? "no"} bytes (32 are required)`
  }
  if (!(block.parentId instanceof Uint8Array) || !Id.isId(block.parentId)) {
    return `the vm returned block ${Id.toString(block.id)} with a parent id of ${
      block.parentId?.length ?? "no"
    } bytes (32 are required)`
  }
  if (typeof block.height !== "bigint" || block.height < 0n || block.height > 0xffff_ffff_ffff_ffffn) {
    return `the vm returned block ${Id.toString(block.id)} with an invalid height ${String(block.height)}`
  }
  if (!(block.bytes instanceof Uint8Array)) return `the vm returned block ${Id.toString(block.id)} without bytes`
  const ts = toTimestamp(timestampDate(block))
  if ("problem" in ts) return `the vm returned block ${Id.toString(block.id)}: ${ts.problem}`
  return undefined
}

/** `id@height` for log lines. */
export const describe = (block: Pick<Block, "id" | "height">): string => `${Id.toString(block.id)}@${block.height}`
