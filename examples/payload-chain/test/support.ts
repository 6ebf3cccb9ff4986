/**
 * Test helpers: payload-chain served in-process with its database behind a real rpcdb
 * server, a Connect client, an independent @grpc/grpc-js client, and a minimal protobuf wire
 * reader/writer (so that field numbers are checked against the wire facts, not against
 * the generated code both sides share).
 */
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf"
import { type Client, createClient } from "@connectrpc/connect"
import * as grpc from "@grpc/grpc-js"
import { VmPlugin } from "@vmre/plugin"
import { VM } from "@vmre/proto/vm/vm_pb"
import { MemoryDatabase, RpcDbServer } from "@vmre/rpcdb"
import type { Database as Rpcdb } from "@vmre/rpcdb"
import { GrpcClient } from "@vmre/transport"
import { Id, type InitializeParams, NodeId } from "@vmre/runtime"
import { Effect, Metric, type Scope } from "effect"
import { fileURLToPath } from "node:url"
import { ensureFresh } from "../build.ts"
import * as PayloadChain from "../src/PayloadChain.ts"

type Database = Rpcdb.Database

export { captureLogs, type CapturedLine } from "../../../test-support/logs.ts"
export { isAlive } from "../../../test-support/processes.ts"

/** The plugin executable, as a node starts it. */
export const executable = fileURLToPath(new URL("../bin/payload-chain", import.meta.url))

/**
 * Rebuilds dist/payload-chain.mjs if a source changed since it was built, so that the
 * executable under test runs the code of this checkout (the launcher prefers the bundle).
 */
export const freshBundle = () => ensureFresh()

export const utf8 = (text: string) => new TextEncoder().encode(text)
export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

export const genesisBytes = utf8(
  JSON.stringify({ timestamp: "2025-01-01T00:00:00.000Z", message: "test genesis", maxPayloadsPerBlock: 2 })
)

export interface InProcess {
  readonly address: string
  readonly dbAddress: string
  readonly database: Database
  readonly chain: PayloadChain.PayloadChainVm
  readonly vm: Client<typeof VM>
}

/** payload-chain on an in-process VM server; its database a MemoryDatabase behind RpcDbServer. */
export const inProcess = (database?: Database): Effect.Effect<InProcess, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const db = database ?? (yield* MemoryDatabase.make)
    const dbServer = yield* RpcDbServer.serve(db)
    const chain = yield* PayloadChain.make
    const { address } = yield* VmPlugin.serveLocal(chain).pipe(
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
    const { transport } = yield* GrpcClient.transport(address)
    return { address, dbAddress: dbServer.address, database: db, chain, vm: createClient(VM, transport) }
  })

/** `Initialize` arguments of a test node: a fixed chain, `genesisBytes`, the given database. */
export const initializeParams = (dbServerAddr: string, overrides: Partial<InitializeParams> = {}): InitializeParams => ({
  networkId: 1,
  subnetId: Id.make(new Uint8Array(32)),
  chainId: Id.make(new Uint8Array(32).fill(7)),
  nodeId: NodeId.make(new Uint8Array(20).fill(1)),
  publicKey: new Uint8Array(0),
  xChainId: Id.make(new Uint8Array(32)),
  cChainId: Id.make(new Uint8Array(32)),
  avaxAssetId: Id.make(new Uint8Array(32)),
  chainDataDir: "",
  genesisBytes,
  upgradeBytes: new Uint8Array(0),
  // No payload generator: payloads come from the tests.
  configBytes: new TextEncoder().encode(JSON.stringify({ autoPayload: null })),
  dbServerAddr,
  serverAddr: "",
  ...overrides
})

// --- an independent gRPC client --------------------------------------------------------

export interface GrpcJsError extends Error {
  readonly code: number
  readonly details: string
}

/** A @grpc/grpc-js client of `address`, closed with the scope. */
export const grpcJsClient = (address: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new grpc.Client(address, grpc.credentials.createInsecure())),
    (client) => Effect.sync(() => client.close())
  ).pipe(Effect.map((client) => {
    /** Calls `/vm.VM/<method>` with raw bytes; answers raw bytes. */
    const raw = (method: string, request: Uint8Array): Effect.Effect<Uint8Array, GrpcJsError> =>
      Effect.callback<Uint8Array, GrpcJsError>((resume) => {
        const call = client.makeUnaryRequest<Uint8Array, Uint8Array>(
          `/vm.VM/${method}`,
          (value) => Buffer.from(value),
          (buffer) => new Uint8Array(buffer),
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (error, value) => {
            if (error !== null) resume(Effect.fail(error as unknown as GrpcJsError))
            else resume(Effect.succeed(value ?? new Uint8Array(0)))
          }
        )
        return Effect.sync(() => call.cancel())
      })
    /** Calls with messages serialized by @bufbuild/protobuf. */
    const call = <I extends DescMessage, O extends DescMessage>(
      method: string,
      input: I,
      output: O,
      request: MessageInitShape<I>
    ): Effect.Effect<MessageShape<O>, GrpcJsError> =>
      raw(method, toBinary(input, create(input, request))).pipe(Effect.map((bytes) => fromBinary(output, bytes)))
    return { raw, call }
  }))

// --- protobuf wire format, by hand ------------------------------------------------------

export interface WireField {
  readonly number: number
  readonly wireType: number
  /** varint: bigint; length-delimited: bytes; fixed: bigint of the bytes. */
  readonly value: bigint | Uint8Array
}

const readVarint = (bytes: Uint8Array, offset: number): [bigint, number] => {
  let result = 0n
  let shift = 0n
  for (;;) {
    const byte = bytes[offset++]
    if (byte === undefined) throw new Error("truncated varint")
    result |= BigInt(byte & 0x7f) << shift
    if ((byte & 0x80) === 0) return [result, offset]
    shift += 7n
  }
}

/** The top-level fields of an encoded message, in wire order. */
export const readFields = (bytes: Uint8Array): Array<WireField> => {
  const fields: Array<WireField> = []
  let offset = 0
  while (offset < bytes.length) {
    const [tag, next] = readVarint(bytes, offset)
    offset = next
    const number = Number(tag >> 3n)
    const wireType = Number(tag & 7n)
    switch (wireType) {
      case 0: {
        const [value, after] = readVarint(bytes, offset)
        fields.push({ number, wireType, value })
        offset = after
        break
      }
      case 2: {
        const [length, after] = readVarint(bytes, offset)
        const end = after + Number(length)
        fields.push({ number, wireType, value: bytes.slice(after, end) })
        offset = end
        break
      }
      case 1:
      case 5: {
        const size = wireType === 1 ? 8 : 4
        let value = 0n
        for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[offset + i]!)
        fields.push({ number, wireType, value })
        offset += size
        break
      }
      default:
        throw new Error(`unsupported wire type ${wireType}`)
    }
  }
  return fields
}

/** The single field `number` (throws if absent or repeated). */
export const field = (fields: ReadonlyArray<WireField>, number: number): WireField => {
  const found = fields.filter((f) => f.number === number)
  if (found.length !== 1) throw new Error(`field ${number}: found ${found.length} times`)
  return found[0]!
}

export const bytesField = (fields: ReadonlyArray<WireField>, number: number): Uint8Array => {
  const f = field(fields, number)
  if (!(f.value instanceof Uint8Array)) throw new Error(`field ${number} is not length-delimited`)
  return f.value
}

export const varintField = (fields: ReadonlyArray<WireField>, number: number): bigint => {
  const f = field(fields, number)
  if (f.wireType !== 0 || typeof f.value !== "bigint") throw new Error(`field ${number} is not a varint`)
  return f.value
}

const varint = (value: bigint): Array<number> => {
  const out: Array<number> = []
  let v = value
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return out
}

/** Encodes fields by hand: `[number, bigint]` as varint, `[number, bytes]` as length-delimited. */
export const writeFields = (fields: ReadonlyArray<readonly [number, bigint | Uint8Array]>): Uint8Array => {
  const out: Array<number> = []
  for (const [number, value] of fields) {
    if (typeof value === "bigint") {
      out.push(...varint(BigInt(number) << 3n), ...varint(value))
    } else {
      out.push(...varint((BigInt(number) << 3n) | 2n), ...varint(BigInt(value.length)), ...value)
    }
  }
  return new Uint8Array(out)
}

/** A google.protobuf.Timestamp read off the wire, in milliseconds. */
export const timestampMillis = (bytes: Uint8Array): number => {
  const fields = readFields(bytes)
  const seconds = fields.find((f) => f.number === 1)?.value ?? 0n
  const nanos = fields.find((f) => f.number === 2)?.value ?? 0n
  return Number(seconds as bigint) * 1000 + Math.floor(Number(nanos as bigint) / 1e6)
}

export const waitUntil = (predicate: () => boolean | Promise<boolean>, timeoutMillis = 5_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMillis
    while (!(await predicate())) {
      if (Date.now() > deadline) return false
      await new Promise((r) => setTimeout(r, 20))
    }
    return true
  })

