/** The block RPCs of the client: build, parse, get, verify, accept, reject, ancestors, height index. */
import { Effect, Result } from "effect"
import { Ids } from "@vmre/wire"
import type { Caller } from "./Call.ts"
import { bytes, int32, int64Nanos, readBlock, readId, readTimestamp, sendId, uint64 } from "./Codec.ts"
import type { BlockContextOptions, GetAncestorsParams } from "./Values.ts"

type Id = Ids.Id
const { toHex } = Ids

const withContext = (options: BlockContextOptions) =>
  options.pChainHeight === undefined ?
    Result.succeed({}) :
    Result.map(uint64("p_chain_height", options.pChainHeight), (pChainHeight) => ({ pChainHeight }))

export const blockCalls = ({ decode, encode, invoke, known, raw }: Caller) => ({
  buildBlock: Effect.fnUntraced(function*(options: BlockContextOptions = {}) {
    const request = yield* encode("BuildBlock", withContext(options))
    const response = yield* invoke("BuildBlock", (o) => raw.buildBlock(request, o))
    return yield* decode("BuildBlock", readBlock(response, response.id, response.bytes))
  }),

  parseBlock: Effect.fnUntraced(function*(blockBytes: Uint8Array) {
    const request = yield* encode("ParseBlock", Result.map(bytes("bytes", blockBytes), (b) => ({ bytes: b })))
    const response = yield* invoke("ParseBlock", (o) => raw.parseBlock(request, o))
    return yield* decode("ParseBlock", readBlock(response, response.id, blockBytes))
  }),

  getBlock: Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("GetBlock", Result.map(sendId("id", id), (b) => ({ id: b })))
    const response = yield* invoke("GetBlock", (o) => raw.getBlock(request, o))
    yield* known("GetBlock", response.err, `block ${toHex(id)}`)
    return yield* decode("GetBlock", readBlock(response, id, response.bytes))
  }),

  setPreference: Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("SetPreference", Result.map(sendId("id", id), (b) => ({ id: b })))
    yield* invoke("SetPreference", (o) => raw.setPreference(request, o))
  }),

  getAncestors: Effect.fnUntraced(function*(params: GetAncestorsParams) {
    const request = yield* encode(
      "GetAncestors",
      Result.all({
        blkId: sendId("blk_id", params.blkId),
        maxBlocksNum: int32("max_blocks_num", params.maxBlocksNum),
        maxBlocksSize: int32("max_blocks_size", params.maxBlocksSize),
        maxBlocksRetrivalTime: int64Nanos("max_blocks_retrival_time", params.maxBlocksRetrievalTime)
      })
    )
    const response = yield* invoke("GetAncestors", (o) => raw.getAncestors(request, o))
    return response.blksBytes
  }),

  batchedParseBlock: Effect.fnUntraced(function*(blocks: ReadonlyArray<Uint8Array>) {
    const request = yield* encode(
      "BatchedParseBlock",
      Result.map(Result.all(blocks.map((b, i) => bytes(`request[${i}]`, b))), (list) => ({ request: list }))
    )
    const response = yield* invoke("BatchedParseBlock", (o) => raw.batchedParseBlock(request, o))
    return yield* decode(
      "BatchedParseBlock",
      response.response.length !== blocks.length ?
        Result.fail(`${response.response.length} blocks for ${blocks.length} requested`) :
        Result.all(response.response.map((r, i) => readBlock(r, r.id, blocks[i]!)))
    )
  }),

  getBlockIdAtHeight: Effect.fnUntraced(function*(height: bigint) {
    const request = yield* encode("GetBlockIDAtHeight", Result.map(uint64("height", height), (h) => ({ height: h })))
    const response = yield* invoke("GetBlockIDAtHeight", (o) => raw.getBlockIDAtHeight(request, o))
    yield* known("GetBlockIDAtHeight", response.err, `block at height ${height}`)
    return yield* decode("GetBlockIDAtHeight", readId("blk_id", response.blkId))
  }),

  blockVerify: Effect.fnUntraced(function*(blockBytes: Uint8Array, options: BlockContextOptions = {}) {
    const request = yield* encode(
      "BlockVerify",
      Result.gen(function*() {
        return { bytes: yield* bytes("bytes", blockBytes), ...(yield* withContext(options)) }
      })
    )
    const response = yield* invoke("BlockVerify", (o) => raw.blockVerify(request, o))
    return yield* decode("BlockVerify", readTimestamp("timestamp", response.timestamp))
  }),

  blockAccept: Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("BlockAccept", Result.map(sendId("id", id), (b) => ({ id: b })))
    yield* invoke("BlockAccept", (o) => raw.blockAccept(request, o))
  }),

  blockReject: Effect.fnUntraced(function*(id: Id) {
    const request = yield* encode("BlockReject", Result.map(sendId("id", id), (b) => ({ id: b })))
    yield* invoke("BlockReject", (o) => raw.blockReject(request, o))
  })
})

