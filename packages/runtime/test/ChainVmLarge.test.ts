/** Large messages in flight at once: the client's HTTP/2 session must not refuse them. */
import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { describe, expect, it } from "@effect/vitest"
import { ParseBlockResponseSchema, VM } from "@vmre/proto/vm/vm_pb"
import { GrpcServer } from "@vmre/transport"
import { Effect } from "effect"
import { ChainVm } from "../src/index.ts"

describe("ChainVm client with large messages", () => {
  it.live("16 concurrent 1 MiB ParseBlock calls all succeed (no NGHTTP2_ENHANCE_YOUR_CALM)", () =>
    Effect.gen(function*() {
      const server = yield* GrpcServer.serve((router) =>
        router.service(VM, {
          parseBlock: (request) =>
            create(ParseBlockResponseSchema, {
              id: new Uint8Array(32).fill(request.bytes[0] ?? 0),
              parentId: new Uint8Array(32),
              height: BigInt(request.bytes.length),
              timestamp: timestampFromMs(0)
            })
        })
      )
      const client = yield* ChainVm.make({ address: server.address })
      const blocks = yield* Effect.forEach(
        Array.from({ length: 16 }, (_, i) => new Uint8Array(1024 * 1024).fill(i)),
        (bytes) => client.parseBlock(bytes),
        { concurrency: "unbounded" }
      )
      expect(blocks.map((block) => block.height)).toEqual(Array.from({ length: 16 }, () => 1_048_576n))
      expect(blocks.map((block) => block.id[0])).toEqual(Array.from({ length: 16 }, (_, i) => i))
    }).pipe(Effect.scoped), 60_000)
})
