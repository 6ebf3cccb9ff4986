/**
 * Property-based hostile input to the SDK's `vm.VM` server: arbitrary request bodies for many
 * methods each get a gRPC status within a bound, and the server keeps serving valid calls.
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import { Code } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { envelope, rawCall, serve, stillServes, STUB_ERRORS } from "./hostileSupport.ts"

/** Runs of the property (4000 pass in ~40 s; 300 keep the suite fast). */
const FUZZ_RUNS = 300

/** Methods fuzzed (Initialize and Shutdown left out: the server stays initialized). */
const METHODS = [
  "ParseBlock",
  "GetBlock",
  "BlockVerify",
  "BlockAccept",
  "BlockReject",
  "SetPreference",
  "BatchedParseBlock",
  "GetAncestors",
  "GetBlockIDAtHeight",
  "SetState",
  "BuildBlock",
  "Connected",
  "AppGossip",
  "AppRequest",
  "Health",
  "Gather",
  "Version",
  "ParseStateSummary",
  "StateSummaryAccept"
] as const

/** Valid protobuf of random fields (numbers 1–16, any wire type): decodes often, into anything. */
const protobufLike = fc.array(
  fc.record({
    field: fc.integer({ min: 1, max: 16 }),
    value: fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ type: WireType.Varint, v })),
      fc.uint8Array({ maxLength: 80 }).map((v) => ({ type: WireType.LengthDelimited, v })),
      fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ type: WireType.Bit32, v })),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ type: WireType.Bit64, v }))
    )
  }),
  { maxLength: 8 }
).map((fields) => {
  const writer = new BinaryWriter()
  for (const { field, value } of fields) {
    writer.tag(field, value.type)
    if (value.type === WireType.Varint) writer.uint64(value.v as bigint)
    else if (value.type === WireType.LengthDelimited) writer.bytes(value.v as Uint8Array)
    else if (value.type === WireType.Bit32) writer.fixed32(value.v as number)
    else writer.fixed64(value.v as bigint)
  }
  return writer.finish()
})

const requestBody = fc.oneof(
  // Arbitrary bytes in a valid envelope: the protobuf decoder's input.
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ kind: "enveloped bytes", body: envelope(bytes) })),
  // Field soup in a valid envelope: decodes, with wrong wire types, odd lengths, huge numbers.
  protobufLike.map((bytes) => ({ kind: "enveloped protobuf", body: envelope(bytes) })),
  // Arbitrary bytes as the whole body: any envelope flags and length claims.
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: "raw bytes", body: Buffer.from(bytes) }))
)

describe("properties: arbitrary request bodies", () => {
  it.live("every body to every method gets a status within 5 s, never a bare error or an UNKNOWN the VM did not raise, and serving goes on", () =>
    Effect.gen(function*() {
      const served = yield* serve({ initialize: true })
      const statuses = new Map<string, number>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.constantFrom(...METHODS), requestBody, (method, { body, kind }) =>
            Effect.runPromise(
              Effect.gen(function*() {
                const answer = yield* rawCall(served.address, method, body)
                const where = `${method} with ${kind} ${Buffer.from(body).toString("hex").slice(0, 64)}`
                expect(answer.httpStatus, where).toBe(200)
                expect(answer.grpcStatus, where).toBeTypeOf("number")
                if (answer.grpcStatus !== 0) expect(answer.grpcMessage ?? "", where).not.toBe("")
                // UNKNOWN carries an error of the VM; anything else would be a defect of the SDK.
                if (answer.grpcStatus === Code.Unknown) expect(answer.grpcMessage, where).toMatch(STUB_ERRORS)
                const key = answer.grpcStatus === 0 ? "OK" : Code[answer.grpcStatus!] ?? String(answer.grpcStatus)
                statuses.set(key, (statuses.get(key) ?? 0) + 1)
                yield* stillServes(served)
              })
            )),
          { numRuns: FUZZ_RUNS }
        )
      )
      console.log(`[hostile] ${FUZZ_RUNS} arbitrary requests over ${METHODS.length} methods, answers by status: ${
        JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a.localeCompare(b))))
      }`)
    }).pipe(Effect.scoped), 60_000)
})
