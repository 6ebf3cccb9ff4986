// Our rpcdb server as another gRPC stack sees it: @grpc/grpc-js, with messages (de)serialised
// by our generated descriptors. Status codes and texts are what grpc-js decodes off the wire.
import { describe, expect, it } from "@effect/vitest"
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf"
import { EmptySchema } from "@bufbuild/protobuf/wkt"
import * as grpc from "@grpc/grpc-js"
import { Effect, type Scope } from "effect"
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema as GrpcHealthResponseSchema
} from "@vmre/proto/grpc/health/v1/health_pb"
import * as pb from "@vmre/proto/rpcdb/rpcdb_pb"
import { type Database, DatabaseFailure } from "../src/Database.ts"
import * as MemoryDatabase from "../src/MemoryDatabase.ts"
import * as RpcDbServer from "../src/RpcDbServer.ts"
import { filled, hex, key32, text } from "./support.ts"

type Answer<O> = { readonly ok: true; readonly response: O } | { readonly ok: false; readonly error: grpc.ServiceError }

const grpcClient = (address: string): Effect.Effect<grpc.Client, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new grpc.Client(address, grpc.credentials.createInsecure())),
    (client) => Effect.sync(() => client.close())
  )

/** One unary call through grpc-js, with a 5 s deadline. */
const unary = <I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  request: MessageInitShape<I>
): Effect.Effect<Answer<MessageShape<O>>> =>
  Effect.callback<Answer<MessageShape<O>>>((resume) => {
    client.makeUnaryRequest<MessageShape<I>, MessageShape<O>>(
      path,
      (message) => Buffer.from(toBinary(input, message)),
      (bytes) => fromBinary(output, bytes),
      create(input, request),
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (error, response) => {
        if (error) resume(Effect.succeed({ ok: false, error }))
        else resume(Effect.succeed({ ok: true, response: response! }))
      }
    )
  })

const ok = <O>(answer: Answer<O>): O => {
  if (!answer.ok) throw new Error(`expected OK, got ${answer.error.code}: ${answer.error.details}`)
  return answer.response
}

const rpcdb = (client: grpc.Client) => {
  const call = <I extends DescMessage, O extends DescMessage>(name: string, input: I, output: O) =>
    (request: MessageInitShape<I>) => unary(client, `/rpcdb.Database/${name}`, input, output, request)
  return {
    put: call("Put", pb.PutRequestSchema, pb.PutResponseSchema),
    get: call("Get", pb.GetRequestSchema, pb.GetResponseSchema),
    has: call("Has", pb.HasRequestSchema, pb.HasResponseSchema),
    delete: call("Delete", pb.DeleteRequestSchema, pb.DeleteResponseSchema),
    writeBatch: call("WriteBatch", pb.WriteBatchRequestSchema, pb.WriteBatchResponseSchema),
    healthCheck: call("HealthCheck", EmptySchema, pb.HealthCheckResponseSchema),
    newIterator: call(
      "NewIteratorWithStartAndPrefix",
      pb.NewIteratorWithStartAndPrefixRequestSchema,
      pb.NewIteratorWithStartAndPrefixResponseSchema
    ),
    iteratorNext: call("IteratorNext", pb.IteratorNextRequestSchema, pb.IteratorNextResponseSchema),
    iteratorError: call("IteratorError", pb.IteratorErrorRequestSchema, pb.IteratorErrorResponseSchema),
    iteratorRelease: call("IteratorRelease", pb.IteratorReleaseRequestSchema, pb.IteratorReleaseResponseSchema)
  }
}

describe("interop: a @grpc/grpc-js client against RpcDbServer", () => {
  it.live("Put, Get, Has, Delete, WriteBatch; a missing key is status OK with ERROR_NOT_FOUND", () =>
    Effect.gen(function*() {
      const server = yield* RpcDbServer.serve(yield* MemoryDatabase.make)
      const db = rpcdb(yield* grpcClient(server.address))
      expect(ok(yield* db.put({ key: text("k"), value: text("v") })).err).toBe(pb.Error.UNSPECIFIED)
      const got = ok(yield* db.get({ key: text("k") }))
      expect(Buffer.from(got.value).toString()).toBe("v")
      expect(got.err).toBe(pb.Error.UNSPECIFIED)
      expect(ok(yield* db.has({ key: text("k") })).has).toBe(true)

      const missing = yield* db.get({ key: text("missing") })
      expect(missing.ok).toBe(true)
      expect(ok(missing).err).toBe(pb.Error.NOT_FOUND)
      expect(ok(missing).value).toHaveLength(0)
      expect(ok(yield* db.has({ key: text("missing") }))).toMatchObject({ has: false, err: pb.Error.UNSPECIFIED })

      // Empty key and empty value survive the trip.
      ok(yield* db.put({ key: new Uint8Array(0), value: new Uint8Array(0) }))
      expect(ok(yield* db.get({ key: new Uint8Array(0) })).err).toBe(pb.Error.UNSPECIFIED)

      ok(yield* db.writeBatch({ puts: [{ key: text("a"), value: text("1") }], deletes: [{ key: text("k") }] }))
      expect(ok(yield* db.get({ key: text("k") })).err).toBe(pb.Error.NOT_FOUND)
      expect(ok(yield* db.delete({ key: text("k") })).err).toBe(pb.Error.UNSPECIFIED)
      expect(new TextDecoder().decode(ok(yield* db.healthCheck({})).details)).toBe("null")
    }))

  it.live("the iterator RPCs: batches until an empty one, then IteratorError and IteratorRelease", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryDatabase.make
      yield* memory.writeBatch(Array.from({ length: 300 }, (_, i) => ({ key: key32(i), value: filled(1024, i) })))
      yield* memory.put(text("zzz"), text("outside the prefix"))
      const server = yield* RpcDbServer.serve(memory)
      const db = rpcdb(yield* grpcClient(server.address))
      const { id } = ok(yield* db.newIterator({ start: key32(10), prefix: new Uint8Array([0, 0]) }))
      const sizes: Array<number> = []
      const keys: Array<string> = []
      for (;;) {
        const { data } = ok(yield* db.iteratorNext({ id }))
        sizes.push(data.length)
        if (data.length === 0) break
        for (const { key, value } of data) {
          keys.push(hex(key))
          expect(value.length).toBe(1024)
        }
      }
      expect(sizes).toEqual([128, 128, 34, 0])
      expect(keys).toEqual(Array.from({ length: 290 }, (_, i) => hex(key32(10 + i))))
      expect(ok(yield* db.iteratorError({ id })).err).toBe(pb.Error.UNSPECIFIED)
      expect(ok(yield* db.iteratorRelease({ id })).err).toBe(pb.Error.UNSPECIFIED)
      expect(yield* server.openIterators).toBe(0)
      // Released twice, or never known: still OK.
      expect(ok(yield* db.iteratorRelease({ id })).err).toBe(pb.Error.UNSPECIFIED)
      const unknown = yield* db.iteratorNext({ id })
      expect(unknown.ok).toBe(false)
      if (!unknown.ok) {
        expect(unknown.error.code).toBe(grpc.status.NOT_FOUND)
        expect(unknown.error.details).toBe("unknown iterator")
      }
    }))

  it.live("failures arrive as error statuses with readable text; health says SERVING", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryDatabase.make
      const failing: Database = { ...inner, put: () => Effect.fail(new DatabaseFailure({ reason: "disk full" })) }
      const server = yield* RpcDbServer.serve(failing)
      const client = yield* grpcClient(server.address)
      const put = yield* rpcdb(client).put({ key: text("k"), value: text("v") })
      expect(put.ok).toBe(false)
      if (!put.ok) {
        expect(put.error.code).toBe(grpc.status.UNKNOWN)
        expect(put.error.details).toBe("disk full")
      }
      const health = ok(
        yield* unary(client, "/grpc.health.v1.Health/Check", HealthCheckRequestSchema, GrpcHealthResponseSchema, {
          service: ""
        })
      )
      expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING)
    }))
})
