/**
 * The block RPCs: build, parse, get, preference, verify, accept, reject, ancestors, batched
 * parse and the height index. All run under the consensus lock.
 */
import type { MessageInitShape } from "@bufbuild/protobuf"
import { Code, type ServiceImpl } from "@connectrpc/connect"
import {
  type BuildBlockResponseSchema,
  Error as ErrEnum,
  type GetBlockResponseSchema,
  type ParseBlockResponseSchema,
  type VM
} from "@vmre/proto/vm/vm_pb"
import { Cause, Effect, Exit, Metric, Result } from "effect"
import * as BlockModule from "../Block.ts"
import type { Block } from "../Block.ts"
import * as Id from "../Id.ts"
import * as Metrics from "../Metrics.ts"
import { checkBlock, epoch, requireId, timestampOf } from "./Codec.ts"
import { errEnumOf, rpcError } from "./Failures.ts"
import type { ServerParts } from "./Parts.ts"

type BlockService = Pick<
  ServiceImpl<typeof VM>,
  | "buildBlock"
  | "parseBlock"
  | "getBlock"
  | "setPreference"
  | "blockVerify"
  | "blockAccept"
  | "blockReject"
  | "getAncestors"
  | "batchedParseBlock"
  | "getBlockIDAtHeight"
>

/** Avalanchego's wrappers.IntLen: GetAncestors counts 4 length bytes per block. */
const INT_LEN = 4

const locked = { locked: true } as const
const count = (metric: Metric.Counter<number>) => Metric.update(metric, 1)

export const blockRpcs = <B extends Block>({ blocks, handle, mailbox, vm }: ServerParts<B>): BlockService => {
  const shouldVerifyWithContext = (block: B): Effect.Effect<boolean, unknown> =>
    block.shouldVerifyWithContext ?? Effect.succeed(block.verifyWithContext !== undefined)

  const parseResponse = (block: B): Effect.Effect<MessageInitShape<typeof ParseBlockResponseSchema>, unknown> =>
    Effect.gen(function*() {
      yield* checkBlock(block)
      return {
        id: block.id,
        parentId: block.parentId,
        status: yield* blocks.statusOf(block),
        height: block.height,
        timestamp: timestampOf(block),
        verifyWithContext: yield* shouldVerifyWithContext(block)
      }
    })

  /** Parses bytes; a block already verified is the verified instance. */
  const parse = (bytes: Uint8Array): Effect.Effect<B, unknown> =>
    vm.parseBlock(bytes).pipe(Effect.flatMap(checkBlock), Effect.map(blocks.verifiedOf))

  const findChecked = (id: Uint8Array) => blocks.find(id).pipe(Effect.flatMap(checkBlock))

  /** BlockAccept and BlockReject: the VM's decision, then the cache and the metrics, all or nothing. */
  const decide = (
    method: string,
    decision: (block: B) => Effect.Effect<void, unknown>,
    settle: (id: Uint8Array, block: B) => void,
    decided: Metric.Counter<number>
  ) =>
    handle(method, locked, (request: { readonly id: Uint8Array }) =>
      Effect.gen(function*() {
        const id = yield* requireId(request.id, "id")
        const block = yield* findChecked(id)
        yield* Effect.uninterruptible(
          decision(block).pipe(
            Effect.andThen(Effect.sync(() => settle(id, block))),
            Effect.andThen(count(decided)),
            Effect.andThen(blocks.updateGauges)
          )
        )
        return {}
      }))

  return {
    buildBlock: handle("BuildBlock", locked, (request) =>
      Effect.gen(function*() {
        // This build answers the pending request; the VM notifies again if more is pending.
        mailbox.consume("BuildBlock")
        const block = yield* vm.buildBlock(
          request.pChainHeight === undefined ? {} : { pChainHeight: request.pChainHeight }
        ).pipe(Effect.flatMap(checkBlock))
        yield* count(Metrics.blocksBuilt)
        const response: MessageInitShape<typeof BuildBlockResponseSchema> = {
          id: block.id,
          parentId: block.parentId,
          bytes: block.bytes,
          height: block.height,
          timestamp: timestampOf(block),
          verifyWithContext: yield* shouldVerifyWithContext(block)
        }
        return response
      })),

    parseBlock: handle("ParseBlock", locked, (request) => Effect.flatMap(parse(request.bytes), parseResponse)),

    getBlock: handle("GetBlock", { locked: true, errEnum: { timestamp: epoch } }, (request) =>
      Effect.gen(function*() {
        const block = yield* findChecked(yield* requireId(request.id, "id"))
        const response: MessageInitShape<typeof GetBlockResponseSchema> = {
          parentId: block.parentId,
          bytes: block.bytes,
          status: yield* blocks.statusOf(block),
          height: block.height,
          timestamp: timestampOf(block),
          verifyWithContext: yield* shouldVerifyWithContext(block)
        }
        return response
      })),

    setPreference: handle("SetPreference", locked, (request) =>
      Effect.gen(function*() {
        yield* vm.setPreference(yield* requireId(request.id, "id"))
        return {}
      })),

    blockVerify: handle("BlockVerify", locked, (request) =>
      Effect.gen(function*() {
        const block = yield* parse(request.bytes)
        if (!blocks.isVerified(block.id)) {
          const verification = request.pChainHeight === undefined
            ? block.verify
            : block.verifyWithContext === undefined
            ? Effect.fail(
              rpcError(
                `block ${BlockModule.describe(block)} cannot be verified with a context (p_chain_height was set)`,
                Code.Unknown
              )
            )
            : block.verifyWithContext({ pChainHeight: request.pChainHeight })
          // A verified block is remembered even if the call is cancelled meanwhile.
          yield* Effect.uninterruptible(
            verification.pipe(
              Effect.tapError(() => count(Metrics.blocksVerifyFailed)),
              Effect.andThen(Effect.sync(() => blocks.addVerified(block))),
              Effect.andThen(count(Metrics.blocksVerified)),
              Effect.andThen(blocks.updateGauges)
            )
          )
        }
        return { timestamp: timestampOf(block) }
      })),

    blockAccept: decide("BlockAccept", (block) => block.accept, blocks.accepted, Metrics.blocksAccepted),

    blockReject: decide("BlockReject", (block) => block.reject, (id) => blocks.rejected(id), Metrics.blocksRejected),

    getAncestors: handle("GetAncestors", locked, (request) =>
      Effect.gen(function*() {
        const id = yield* requireId(request.blkId, "blk_id")
        const started = Date.now()
        const maxMillis = Number(request.maxBlocksRetrivalTime / 1_000_000n)
        const first = yield* Effect.exit(findChecked(id))
        if (Exit.isFailure(first)) {
          const found = Cause.findError(first.cause)
          // Not found: an empty answer tells the peer to ask someone else (upstream).
          if (Result.isSuccess(found) && errEnumOf(found.success) === ErrEnum.NOT_FOUND) return { blksBytes: [] }
          return yield* Effect.failCause(first.cause)
        }
        let block = first.value
        const answer: Array<Uint8Array> = [block.bytes]
        let size = block.bytes.length + INT_LEN
        while (answer.length < request.maxBlocksNum && Date.now() - started < maxMillis) {
          const parent = yield* Effect.exit(findChecked(block.parentId))
          // Not found (the genesis' parent, or pruned history) or any failure ends the walk.
          if (Exit.isFailure(parent)) break
          const next = size + parent.value.bytes.length + INT_LEN
          if (next > request.maxBlocksSize) break
          answer.push(parent.value.bytes)
          size = next
          block = parent.value
        }
        return { blksBytes: answer }
      })),

    batchedParseBlock: handle("BatchedParseBlock", locked, (request) =>
      Effect.map(
        Effect.forEach(request.request, (bytes) => Effect.flatMap(parse(bytes), parseResponse)),
        (response) => ({ response })
      )),

    getBlockIDAtHeight: handle("GetBlockIDAtHeight", { locked: true, errEnum: {} }, (request) =>
      Effect.gen(function*() {
        const id = yield* vm.getBlockIdAtHeight(request.height)
        if (!Id.isId(id)) {
          return yield* Effect.fail(
            rpcError(`the vm returned a block id of ${id.length} bytes for height ${request.height}`, Code.Internal)
          )
        }
        return { blkId: id }
      }))
  }
}
