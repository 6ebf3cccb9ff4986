/**
 * Every vm.VM RPC of payload-chain, served in-process by @vmre/plugin's VmServer, called by a
 * Connect client and by an independent @grpc/grpc-js client (whose requests and answers are
 * partly encoded and decoded by hand, so that field numbers are checked against the wire
 * facts rather than against the generated code both sides share).
 */
import { Code, ConnectError } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { Id, VmDefinition } from "@vmre/plugin"
import {
  BatchedParseBlockRequestSchema,
  BatchedParseBlockResponseSchema,
  Error as ErrEnum,
  GatherResponseSchema,
  Message,
  State,
  StateSummaryAcceptResponse_Mode as Mode,
  Status,
  VersionResponseSchema
} from "@vmre/proto/vm/vm_pb"
import { EmptySchema, timestampDate } from "@bufbuild/protobuf/wkt"
import { Effect } from "effect"
import * as Codec from "../src/Codec.ts"
import { VERSION } from "../src/PayloadChain.ts"
import {
  bytesField,
  field,
  genesisBytes,
  grpcJsClient,
  inProcess,
  readFields,
  text,
  timestampMillis,
  utf8,
  varintField,
  writeFields
} from "./support.ts"

// Every call is bounded: a hung answer fails the test instead of waiting for vitest.
const call = <A>(f: () => Promise<A>) => Effect.promise(f).pipe(Effect.timeout("10 seconds"), Effect.orDie)
const fails = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      (value) => {
        throw new Error(`the call was expected to fail: ${f.toString()} answered ${String(value)}`)
      },
      (error: unknown) => ConnectError.from(error)
    )
  ).pipe(Effect.timeout("10 seconds"), Effect.orDie)

const nodeId = new Uint8Array(20).fill(9)
const chainId = new Uint8Array(32).fill(7)
const GENESIS_MILLIS = Date.parse("2025-01-01T00:00:00.000Z")

// No payload generator unless a test asks for one: payloads come from the test.
const initRequest = (dbServerAddr: string, config: object = { autoPayload: null }) => ({
  networkId: 1337,
  subnetId: new Uint8Array(32),
  chainId,
  nodeId,
  chainDataDir: "/tmp",
  genesisBytes,
  configBytes: utf8(JSON.stringify(config)),
  dbServerAddr
})

describe("payload-chain over Connect", () => {
  it.live("serves the whole block lifecycle", () =>
    Effect.gen(function*() {
      const { dbAddress, vm } = yield* inProcess()

      expect((yield* call(() => vm.version({}))).version).toBe(VERSION)

      // Initialize: the genesis block is the last accepted block.
      const init = yield* call(() => vm.initialize(initRequest(dbAddress)))
      expect(init.lastAcceptedId).toHaveLength(32)
      expect(init.lastAcceptedParentId).toEqual(new Uint8Array(32))
      expect(init.height).toBe(0n)
      expect(timestampDate(init.timestamp!).getTime()).toBe(GENESIS_MILLIS)
      expect(Id.sha256(init.bytes)).toEqual(init.lastAcceptedId)
      const genesis = Codec.decode(init.bytes)
      expect(genesis).not.toBeInstanceOf(Codec.MalformedBlock)
      expect(text((genesis as Codec.BlockData).payloads[0]!)).toBe("test genesis")
      const genesisId = init.lastAcceptedId

      // A second Initialize is refused.
      const again = yield* fails(() => vm.initialize(initRequest(dbAddress)))
      expect(again.code).toBe(Code.FailedPrecondition)

      for (const state of [State.BOOTSTRAPPING, State.NORMAL_OP]) {
        const set = yield* call(() => vm.setState({ state }))
        expect(set.lastAcceptedId).toEqual(genesisId)
        expect(set.height).toBe(0n)
        expect(timestampDate(set.timestamp!).getTime()).toBe(GENESIS_MILLIS)
      }

      // Nothing to build yet: a gRPC error with the VM's message.
      const empty = yield* fails(() => vm.buildBlock({}))
      expect(empty.code).toBe(Code.Unknown)
      expect(empty.rawMessage).toBe("nothing to build: the mempool has no payload the preferred chain lacks")

      // Payloads arrive by gossip; the engine is told to build.
      for (const p of ["p1", "p2", "p3"]) yield* call(() => vm.appGossip({ nodeId, msg: utf8(p) }))
      expect((yield* call(() => vm.waitForEvent({}))).message).toBe(Message.BUILD_BLOCK)

      const b1 = yield* call(() => vm.buildBlock({}))
      expect(b1.id).toHaveLength(32)
      expect(b1.id).toEqual(Id.sha256(b1.bytes))
      expect(b1.parentId).toEqual(genesisId)
      expect(b1.height).toBe(1n)
      expect(b1.verifyWithContext).toBe(false)
      const b1Millis = timestampDate(b1.timestamp!).getTime()
      expect(b1Millis).toBeGreaterThanOrEqual(GENESIS_MILLIS)
      expect(Math.abs(b1Millis - Date.now())).toBeLessThan(10_000)
      expect((Codec.decode(b1.bytes) as Codec.BlockData).payloads.map(text)).toEqual(["p1", "p2"])

      // Parsed, not yet verified: processing (luxd status), same identity.
      const parsed = yield* call(() => vm.parseBlock({ bytes: b1.bytes }))
      expect(parsed.id).toEqual(b1.id)
      expect(parsed.parentId).toEqual(genesisId)
      expect(parsed.height).toBe(1n)
      expect(parsed.status).toBe(Status.PROCESSING)
      expect(timestampDate(parsed.timestamp!).getTime()).toBe(b1Millis)

      // A built block is not retrievable before it is verified.
      const before = yield* call(() => vm.getBlock({ id: b1.id }))
      expect(before.err).toBe(ErrEnum.NOT_FOUND)
      expect(before.bytes).toHaveLength(0)

      const verified = yield* call(() => vm.blockVerify({ bytes: b1.bytes }))
      expect(timestampDate(verified.timestamp!).getTime()).toBe(b1Millis)
      const got = yield* call(() => vm.getBlock({ id: b1.id }))
      expect(got.err).toBe(ErrEnum.UNSPECIFIED)
      expect(got.bytes).toEqual(b1.bytes)
      expect(got.parentId).toEqual(genesisId)
      expect(got.height).toBe(1n)
      expect(got.status).toBe(Status.PROCESSING)
      expect(timestampDate(got.timestamp!).getTime()).toBe(b1Millis)

      // More than a block's worth was pending: the VM asked to build again.
      expect((yield* call(() => vm.waitForEvent({}))).message).toBe(Message.BUILD_BLOCK)
      yield* call(() => vm.setPreference({ id: b1.id }))
      const b2 = yield* call(() => vm.buildBlock({}))
      expect(b2.parentId).toEqual(b1.id)
      expect(b2.height).toBe(2n)
      expect((Codec.decode(b2.bytes) as Codec.BlockData).payloads.map(text)).toEqual(["p3"])
      yield* call(() => vm.blockVerify({ bytes: b2.bytes }))

      // A competing block at height 2 (as another node would build it).
      const siblingBytes = Codec.encode({
        parentId: b1.id,
        height: 2n,
        timestampMillis: b1Millis + 1,
        payloads: [utf8("p4")]
      })
      const sibling = yield* call(() => vm.blockVerify({ bytes: siblingBytes }))
      expect(timestampDate(sibling.timestamp!).getTime()).toBe(b1Millis + 1)
      const siblingId = Id.sha256(siblingBytes)

      // Verify rules, with the rule in the error text.
      const future = yield* fails(() =>
        vm.blockVerify({
          bytes: Codec.encode({ parentId: b1.id, height: 2n, timestampMillis: Date.now() + 3_600_000, payloads: [utf8("f")] })
        })
      )
      expect(future.rawMessage).toMatch(/too far in the future$/)
      const wrongHeight = yield* fails(() =>
        vm.blockVerify({
          bytes: Codec.encode({ parentId: b1.id, height: 5n, timestampMillis: b1Millis, payloads: [utf8("h")] })
        })
      )
      expect(wrongHeight.rawMessage).toMatch(/height 5 does not follow the parent's 1$/)
      const repeated = yield* fails(() =>
        vm.blockVerify({
          bytes: Codec.encode({ parentId: b1.id, height: 2n, timestampMillis: b1Millis, payloads: [utf8("p1")] })
        })
      )
      expect(repeated.rawMessage).toMatch(/a payload is repeated$/)
      const malformed = yield* fails(() => vm.blockVerify({ bytes: utf8("not a block") }))
      expect(malformed.rawMessage).toMatch(/^malformed block/)

      // Decide: accept b1 and b2, reject the sibling.
      yield* call(() => vm.blockAccept({ id: b1.id }))
      yield* call(() => vm.blockAccept({ id: b2.id }))
      yield* call(() => vm.blockReject({ id: siblingId }))
      expect((yield* call(() => vm.getBlock({ id: b1.id }))).status).toBe(Status.ACCEPTED)
      expect((yield* call(() => vm.getBlock({ id: siblingId }))).err).toBe(ErrEnum.NOT_FOUND)
      const siblingParsed = yield* call(() => vm.parseBlock({ bytes: siblingBytes }))
      expect(siblingParsed.status).toBe(Status.REJECTED)

      // Height index.
      expect((yield* call(() => vm.getBlockIDAtHeight({ height: 0n }))).blkId).toEqual(genesisId)
      expect((yield* call(() => vm.getBlockIDAtHeight({ height: 1n }))).blkId).toEqual(b1.id)
      expect((yield* call(() => vm.getBlockIDAtHeight({ height: 2n }))).blkId).toEqual(b2.id)
      const missing = yield* call(() => vm.getBlockIDAtHeight({ height: 3n }))
      expect(missing.err).toBe(ErrEnum.NOT_FOUND)
      expect(missing.blkId).toHaveLength(0)

      // GetAncestors: by count, by size, unknown block, bad id.
      const second = 1_000_000_000n
      const all = yield* call(() =>
        vm.getAncestors({ blkId: b2.id, maxBlocksNum: 10, maxBlocksSize: 1 << 20, maxBlocksRetrivalTime: second })
      )
      expect(all.blksBytes).toEqual([b2.bytes, b1.bytes, init.bytes])
      const two = yield* call(() =>
        vm.getAncestors({ blkId: b2.id, maxBlocksNum: 2, maxBlocksSize: 1 << 20, maxBlocksRetrivalTime: second })
      )
      expect(two.blksBytes).toEqual([b2.bytes, b1.bytes])
      const tight = b2.bytes.length + 4 + b1.bytes.length + 4
      const bySize = yield* call(() =>
        vm.getAncestors({ blkId: b2.id, maxBlocksNum: 10, maxBlocksSize: tight - 1, maxBlocksRetrivalTime: second })
      )
      expect(bySize.blksBytes).toEqual([b2.bytes])
      const exact = yield* call(() =>
        vm.getAncestors({ blkId: b2.id, maxBlocksNum: 10, maxBlocksSize: tight, maxBlocksRetrivalTime: second })
      )
      expect(exact.blksBytes).toEqual([b2.bytes, b1.bytes])
      const noTime = yield* call(() =>
        vm.getAncestors({ blkId: b2.id, maxBlocksNum: 10, maxBlocksSize: 1 << 20, maxBlocksRetrivalTime: 0n })
      )
      expect(noTime.blksBytes).toEqual([b2.bytes])
      const unknown = yield* call(() =>
        vm.getAncestors({ blkId: new Uint8Array(32).fill(1), maxBlocksNum: 10, maxBlocksSize: 1000, maxBlocksRetrivalTime: second })
      )
      expect(unknown.blksBytes).toEqual([])
      const badId = yield* fails(() =>
        vm.getAncestors({ blkId: new Uint8Array(31), maxBlocksNum: 10, maxBlocksSize: 1000, maxBlocksRetrivalTime: second })
      )
      expect(badId.code).toBe(Code.InvalidArgument)
      expect(badId.rawMessage).toBe("blk_id must be 32 bytes, got 31")

      // BatchedParseBlock: one answer per request, in order.
      const batch = yield* call(() => vm.batchedParseBlock({ request: [b2.bytes, init.bytes, b1.bytes] }))
      expect(batch.response.map((r) => r.id)).toEqual([b2.id, genesisId, b1.id])
      expect(batch.response.map((r) => r.height)).toEqual([2n, 0n, 1n])
      expect(batch.response.map((r) => r.status)).toEqual([Status.ACCEPTED, Status.ACCEPTED, Status.ACCEPTED])
      const badBatch = yield* fails(() => vm.batchedParseBlock({ request: [b1.bytes, utf8("junk")] }))
      expect(badBatch.rawMessage).toMatch(/^malformed block/)
      expect((yield* call(() => vm.batchedParseBlock({ request: [] }))).response).toEqual([])

      // IDs must be 32 bytes.
      for (const bad of [new Uint8Array(0), new Uint8Array(33)]) {
        expect((yield* fails(() => vm.getBlock({ id: bad }))).code).toBe(Code.InvalidArgument)
        expect((yield* fails(() => vm.setPreference({ id: bad }))).code).toBe(Code.InvalidArgument)
        expect((yield* fails(() => vm.blockAccept({ id: bad }))).code).toBe(Code.InvalidArgument)
        expect((yield* fails(() => vm.blockReject({ id: bad }))).code).toBe(Code.InvalidArgument)
      }
      // Accepting an unknown block is an error with the VM's text.
      const unknownAccept = yield* fails(() => vm.blockAccept({ id: new Uint8Array(32).fill(3) }))
      expect(unknownAccept.rawMessage).toMatch(/^not found: block /)

      // Health: JSON with the database's and the VM's report.
      const health = JSON.parse(text((yield* call(() => vm.health({}))).details))
      expect(Object.keys(health).sort()).toEqual(["database", "health"])
      expect(health.health.lastAcceptedHeight).toBe("2")
      expect(health.health.lastAccepted).toBe(Id.toString(b2.id))
      expect(health.health.mempoolPayloads).toBe(0)

      // Gather: the SDK's counters and the VM's own Effect metrics.
      const families = (yield* call(() => vm.gather({}))).metricFamilies
      const family = (name: string) => families.find((f) => f.name === name)
      const series = (name: string, method?: string) =>
        family(name)?.metric.find((m) => method === undefined || m.label.some((l) => l.name === "method" && l.value === method))
      expect(series("vm_rpc_calls_total", "BuildBlock")?.counter?.value).toBe(3)
      expect(series("vm_rpc_errors_total", "BuildBlock")?.counter?.value).toBe(1)
      expect(series("vm_blocks_accepted_total")?.counter?.value).toBe(2)
      expect(series("vm_blocks_rejected_total")?.counter?.value).toBe(1)
      expect(series("vm_last_accepted_height")?.gauge?.value).toBe(2)
      expect(series("payload_chain_payloads_accepted_total")?.counter?.value).toBe(3)
      expect(families.map((f) => f.name)).toEqual([...families.map((f) => f.name)].sort())

      // Peers and app messages (the VM handles gossip only; the rest are no-ops).
      yield* call(() => vm.connected({ nodeId, name: "avalanchego", major: 1, minor: 14, patch: 2 }))
      yield* call(() => vm.disconnected({ nodeId }))
      yield* call(() => vm.appRequest({ nodeId, requestId: 1, deadline: { seconds: 2_000_000_000n, nanos: 0 }, request: utf8("?") }))
      yield* call(() => vm.appResponse({ nodeId, requestId: 1, response: utf8("!") }))
      yield* call(() => vm.appRequestFailed({ nodeId, requestId: 2, errorCode: -1, errorMessage: "timeout" }))
      yield* call(() => vm.crossChainAppRequest({ chainId, requestId: 3, request: utf8("?") }))
      yield* call(() => vm.crossChainAppResponse({ chainId, requestId: 3, response: utf8("!") }))
      yield* call(() => vm.crossChainAppRequestFailed({ chainId, requestId: 4, errorCode: 1, errorMessage: "x" }))
      // Its HTTP API: two handlers, each on a loopback gRPC server of its own.
      const handlers = (yield* call(() => vm.createHandlers({}))).handlers
      expect(handlers.map((h) => h.prefix)).toEqual(["/status", "/rpc"])
      for (const h of handlers) expect(h.serverAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      expect((yield* call(() => vm.newHTTPHandler({}))).serverAddr).toBe("")

      // State sync: not implemented by this VM.
      const enabled = yield* call(() => vm.stateSyncEnabled({}))
      expect(enabled.enabled).toBe(false)
      expect(enabled.err).toBe(ErrEnum.UNSPECIFIED)
      expect((yield* call(() => vm.getOngoingSyncStateSummary({}))).err).toBe(ErrEnum.STATE_SYNC_NOT_IMPLEMENTED)
      expect((yield* call(() => vm.getLastStateSummary({}))).err).toBe(ErrEnum.STATE_SYNC_NOT_IMPLEMENTED)
      expect((yield* call(() => vm.parseStateSummary({ bytes: utf8("s") }))).err).toBe(ErrEnum.STATE_SYNC_NOT_IMPLEMENTED)
      expect((yield* call(() => vm.getStateSummary({ height: 1n }))).err).toBe(ErrEnum.STATE_SYNC_NOT_IMPLEMENTED)
      const summaryAccept = yield* call(() => vm.stateSummaryAccept({ bytes: utf8("s") }))
      expect(summaryAccept.err).toBe(ErrEnum.STATE_SYNC_NOT_IMPLEMENTED)
      expect(summaryAccept.mode).toBe(Mode.SKIPPED)

      // WaitForEvent is interrupted by Shutdown.
      const waiting = Effect.runPromise(fails(() => vm.waitForEvent({}, { timeoutMs: 10_000 })))
      yield* Effect.sleep("50 millis")
      yield* call(() => vm.shutdown({}))
      const interrupted = yield* call(() => waiting)
      expect(interrupted.rawMessage).toBe("closed")

      // After Shutdown: ERROR_CLOSED where there is an err field, "closed" elsewhere.
      expect((yield* call(() => vm.getBlock({ id: b1.id }))).err).toBe(ErrEnum.CLOSED)
      expect((yield* fails(() => vm.buildBlock({}))).rawMessage).toBe("closed")
      // Version and a second Shutdown still answer.
      expect((yield* call(() => vm.version({}))).version).toBe(VERSION)
      yield* call(() => vm.shutdown({}))
    }))

  it.live("answers Version and Shutdown before Initialize, and nothing else", () =>
    Effect.gen(function*() {
      const { dbAddress, vm } = yield* inProcess()
      expect((yield* call(() => vm.version({}))).version).toBe(VERSION)
      const early = yield* fails(() => vm.buildBlock({}))
      expect(early.code).toBe(Code.FailedPrecondition)
      expect(early.rawMessage).toBe("the vm is not initialized - call Initialize first")
      expect((yield* fails(() => vm.health({}))).code).toBe(Code.FailedPrecondition)
      yield* call(() => vm.shutdown({}))
      expect((yield* call(() => vm.version({}))).version).toBe(VERSION)
      // Shut down without Initialize: Initialize is refused, as closed.
      expect((yield* fails(() => vm.initialize(initRequest(dbAddress)))).rawMessage).toBe("closed")
    }))

  it.live("fails Initialize with the reason: bad config, unreachable database", () =>
    Effect.gen(function*() {
      const { dbAddress, vm } = yield* inProcess()
      const badConfig = yield* fails(() => vm.initialize(initRequest(dbAddress, { autoPayload: { intervalMillis: 0, bytes: 1 } })))
      expect(badConfig.rawMessage).toMatch(/^invalid config: /)
      const badGenesis = yield* fails(() =>
        vm.initialize({ ...initRequest(dbAddress), genesisBytes: utf8(JSON.stringify({ maxPayloadBytes: -1 })) })
      )
      expect(badGenesis.rawMessage).toMatch(/^invalid genesis: /)
      const noDb = yield* fails(() => vm.initialize({ ...initRequest(dbAddress), dbServerAddr: "" }))
      expect(noDb.code).toBe(Code.InvalidArgument)
      // A failed Initialize leaves the VM uninitialized: a correct one succeeds.
      const init = yield* call(() => vm.initialize(initRequest(dbAddress)))
      expect(init.height).toBe(0n)
    }))

  it.live("a NotFound of the VM is OK + ERROR_NOT_FOUND on GetBlock", () =>
    Effect.gen(function*() {
      const { dbAddress, vm } = yield* inProcess()
      yield* call(() => vm.initialize(initRequest(dbAddress)))
      const answer = yield* call(() => vm.getBlock({ id: new Uint8Array(32).fill(0xee) }))
      expect(answer.err).toBe(ErrEnum.NOT_FOUND)
      // Its timestamp is still a valid one.
      expect(answer.timestamp).toBeDefined()
      expect(new VmDefinition.NotFound({ subject: "x" }).message).toBe("not found: x")
    }))
})

describe("payload-chain over @grpc/grpc-js (field numbers from the wire facts)", () => {
  it.live("every RPC, encoded and decoded by hand", () =>
    Effect.gen(function*() {
      const { address, dbAddress } = yield* inProcess()
      const client = yield* grpcJsClient(address)
      const none = new Uint8Array(0)

      // Version before Initialize: VersionResponse.version = 1.
      const version = readFields(yield* client.raw("Version", none))
      expect(text(bytesField(version, 1))).toBe(VERSION)
      expect((yield* client.call("Version", EmptySchema, VersionResponseSchema, {})).version).toBe(VERSION)

      // InitializeRequest: network_id=1, subnet_id=2, chain_id=3, node_id=4, chain_data_dir=9,
      // genesis_bytes=10, config_bytes=12, db_server_addr=13.
      const init = readFields(
        yield* client.raw(
          "Initialize",
          writeFields([
            [1, 1337n],
            [2, new Uint8Array(32)],
            [3, chainId],
            [4, nodeId],
            [9, utf8("/tmp")],
            [10, genesisBytes],
            [12, utf8(JSON.stringify({ autoPayload: null }))],
            [13, utf8(dbAddress)]
          ])
        )
      )
      // InitializeResponse: last_accepted_id=1, last_accepted_parent_id=2, height=3 (0: absent),
      // bytes=4, timestamp=5.
      const genesisId = bytesField(init, 1)
      expect(genesisId).toHaveLength(32)
      expect(bytesField(init, 2)).toEqual(new Uint8Array(32))
      expect(init.some((f) => f.number === 3)).toBe(false)
      expect(Id.sha256(bytesField(init, 4))).toEqual(genesisId)
      expect(timestampMillis(bytesField(init, 5))).toBe(GENESIS_MILLIS)

      // SetStateRequest.state = 1; SetStateResponse as InitializeResponse.
      const set = readFields(yield* client.raw("SetState", writeFields([[1, 3n]])))
      expect(bytesField(set, 1)).toEqual(genesisId)
      expect(timestampMillis(bytesField(set, 5))).toBe(GENESIS_MILLIS)

      // AppGossipMsg: node_id=1, msg=2.
      yield* client.raw("AppGossip", writeFields([[1, nodeId], [2, utf8("g1")]]))
      yield* client.raw("AppGossip", writeFields([[1, nodeId], [2, utf8("g2")]]))
      // WaitForEventResponse.message = 1 (MESSAGE_BUILD_BLOCK = 1).
      expect(varintField(readFields(yield* client.raw("WaitForEvent", none)), 1)).toBe(1n)

      // BuildBlockResponse: id=1, parent_id=2, bytes=3, height=4, timestamp=5 (verify_with_context
      // false: absent).
      const built = readFields(yield* client.raw("BuildBlock", none))
      const b1 = bytesField(built, 1)
      const b1Bytes = bytesField(built, 3)
      expect(b1).toEqual(Id.sha256(b1Bytes))
      expect(bytesField(built, 2)).toEqual(genesisId)
      expect(varintField(built, 4)).toBe(1n)
      const b1Millis = timestampMillis(bytesField(built, 5))
      expect(Math.abs(b1Millis - Date.now())).toBeLessThan(10_000)
      expect(built.some((f) => f.number === 6)).toBe(false)

      // ParseBlockRequest.bytes = 1 → ParseBlockResponse: id=1, parent_id=2, status=3, height=4,
      // timestamp=5.
      const parsed = readFields(yield* client.raw("ParseBlock", writeFields([[1, b1Bytes]])))
      expect(bytesField(parsed, 1)).toEqual(b1)
      expect(bytesField(parsed, 2)).toEqual(genesisId)
      expect(varintField(parsed, 3)).toBe(BigInt(Status.PROCESSING))
      expect(varintField(parsed, 4)).toBe(1n)
      expect(timestampMillis(bytesField(parsed, 5))).toBe(b1Millis)

      // BlockVerifyRequest.p_chain_height = 2: this VM's blocks have no verify-with-context.
      const withContext = yield* Effect.flip(
        client.raw("BlockVerify", writeFields([[1, b1Bytes], [2, 100n]]))
      )
      expect(withContext.code).toBe(2) // UNKNOWN, with the reason as text
      expect(withContext.details).toMatch(/cannot be verified with a context/)
      // BlockVerifyRequest.bytes = 1 → BlockVerifyResponse.timestamp = 1.
      const verified = readFields(yield* client.raw("BlockVerify", writeFields([[1, b1Bytes]])))
      expect(timestampMillis(bytesField(verified, 1))).toBe(b1Millis)

      // GetBlockRequest.id = 1 → GetBlockResponse: parent_id=1, bytes=2, status=3, height=4,
      // timestamp=5, err=6 (absent when found).
      const got = readFields(yield* client.raw("GetBlock", writeFields([[1, b1]])))
      expect(bytesField(got, 1)).toEqual(genesisId)
      expect(bytesField(got, 2)).toEqual(b1Bytes)
      expect(varintField(got, 3)).toBe(BigInt(Status.PROCESSING))
      expect(varintField(got, 4)).toBe(1n)
      expect(timestampMillis(bytesField(got, 5))).toBe(b1Millis)
      expect(got.some((f) => f.number === 6)).toBe(false)
      const notFound = readFields(yield* client.raw("GetBlock", writeFields([[1, new Uint8Array(32).fill(5)]])))
      expect(varintField(notFound, 6)).toBe(2n) // ERROR_NOT_FOUND = 2
      const shortId = yield* Effect.flip(client.raw("GetBlock", writeFields([[1, new Uint8Array(20)]])))
      expect(shortId.code).toBe(3) // INVALID_ARGUMENT

      // SetPreferenceRequest.id = 1; BlockAcceptRequest.id = 1.
      yield* client.raw("SetPreference", writeFields([[1, b1]]))
      yield* client.raw("BlockAccept", writeFields([[1, b1]]))
      expect(varintField(readFields(yield* client.raw("GetBlock", writeFields([[1, b1]]))), 3)).toBe(
        BigInt(Status.ACCEPTED)
      )

      // A rejected block: verify a sibling-to-be, then BlockRejectRequest.id = 1.
      yield* client.raw("AppGossip", writeFields([[1, nodeId], [2, utf8("g3")]]))
      const b2 = readFields(yield* client.raw("BuildBlock", none))
      yield* client.raw("BlockVerify", writeFields([[1, bytesField(b2, 3)]]))
      yield* client.raw("BlockReject", writeFields([[1, bytesField(b2, 1)]]))
      expect(varintField(readFields(yield* client.raw("GetBlock", writeFields([[1, bytesField(b2, 1)]]))), 6)).toBe(2n)

      // GetBlockIDAtHeightRequest.height = 1 → blk_id = 1, err = 2.
      const atOne = readFields(yield* client.raw("GetBlockIDAtHeight", writeFields([[1, 1n]])))
      expect(bytesField(atOne, 1)).toEqual(b1)
      const atZero = readFields(yield* client.raw("GetBlockIDAtHeight", none))
      expect(bytesField(atZero, 1)).toEqual(genesisId)
      const atMany = readFields(yield* client.raw("GetBlockIDAtHeight", writeFields([[1, 99n]])))
      expect(varintField(atMany, 2)).toBe(2n)

      // GetAncestorsRequest: blk_id=1, max_blocks_num=2, max_blocks_size=3,
      // max_blocks_retrival_time=4 (ns) → GetAncestorsResponse.blks_bytes = 1 (repeated).
      const ancestors = readFields(
        yield* client.raw("GetAncestors", writeFields([[1, b1], [2, 5n], [3, 100_000n], [4, 1_000_000_000n]]))
      )
      expect(ancestors.map((f) => f.number)).toEqual([1, 1])
      expect(ancestors[0]!.value).toEqual(b1Bytes)
      expect(Id.sha256(ancestors[1]!.value as Uint8Array)).toEqual(genesisId)
      const oneAncestor = readFields(
        yield* client.raw("GetAncestors", writeFields([[1, b1], [2, 1n], [3, 100_000n], [4, 1_000_000_000n]]))
      )
      expect(oneAncestor).toHaveLength(1)

      // BatchedParseBlockRequest.request = 1 (repeated) → response = 1 (repeated ParseBlockResponse).
      const batch = readFields(
        yield* client.raw("BatchedParseBlock", writeFields([[1, b1Bytes], [1, ancestors[1]!.value as Uint8Array]]))
      )
      expect(batch.map((f) => f.number)).toEqual([1, 1])
      expect(bytesField(readFields(batch[0]!.value as Uint8Array), 1)).toEqual(b1)
      expect(bytesField(readFields(batch[1]!.value as Uint8Array), 1)).toEqual(genesisId)
      const typedBatch = yield* client.call("BatchedParseBlock", BatchedParseBlockRequestSchema, BatchedParseBlockResponseSchema, {
        request: [b1Bytes]
      })
      expect(typedBatch.response[0]!.height).toBe(1n)

      // HealthResponse.details = 1 (JSON).
      const health = JSON.parse(text(bytesField(readFields(yield* client.raw("Health", none)), 1)))
      expect(health.health.lastAcceptedHeight).toBe("1")

      // GatherResponse.metric_families = 1; MetricFamily.name = 1.
      const gathered = readFields(yield* client.raw("Gather", none))
      const names = gathered.map((f) => text(bytesField(readFields(f.value as Uint8Array), 1)))
      expect(names).toContain("vm_rpc_calls_total")
      expect(names).toContain("vm_blocks_accepted_total")
      const typed = yield* client.call("Gather", EmptySchema, GatherResponseSchema, {})
      expect(typed.metricFamilies.length).toBe(gathered.length)

      // Peers: ConnectedRequest node_id=1, name=2, major=3, minor=4, patch=5; Disconnected.
      yield* client.raw("Connected", writeFields([[1, nodeId], [2, utf8("luxd")], [3, 1n], [4, 2n], [5, 3n]]))
      yield* client.raw("Disconnected", writeFields([[1, nodeId]]))
      // App messages: AppRequest(node_id=1, request_id=2, deadline=3, request=4), AppResponse,
      // AppRequestFailed(error_code=3 sint32), cross-chain (luxd).
      yield* client.raw("AppRequest", writeFields([[1, nodeId], [2, 7n], [3, writeFields([[1, 2_000_000_000n]])], [4, utf8("q")]]))
      yield* client.raw("AppResponse", writeFields([[1, nodeId], [2, 7n], [3, utf8("a")]]))
      yield* client.raw("AppRequestFailed", writeFields([[1, nodeId], [2, 8n], [3, 1n], [4, utf8("timeout")]]))
      yield* client.raw("CrossChainAppRequest", writeFields([[1, chainId], [2, 9n], [4, utf8("q")]]))
      yield* client.raw("CrossChainAppResponse", writeFields([[1, chainId], [2, 9n], [3, utf8("a")]]))
      yield* client.raw("CrossChainAppRequestFailed", writeFields([[1, chainId], [2, 10n], [3, 1n]]))
      // CreateHandlersResponse handlers = 1, each Handler{prefix = 1, server_addr = 2}.
      const handlers = readFields(yield* client.raw("CreateHandlers", none)).map((f) => readFields(f.value as Uint8Array))
      expect(handlers.map((h) => new TextDecoder().decode(bytesField(h, 1)))).toEqual(["/status", "/rpc"])
      for (const h of handlers) expect(new TextDecoder().decode(bytesField(h, 2))).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(yield* client.raw("NewHTTPHandler", none)).toHaveLength(0)

      // State sync: err numbers per message (GetLastStateSummaryResponse.err = 4, …).
      expect(yield* client.raw("StateSyncEnabled", none)).toHaveLength(0)
      expect(varintField(readFields(yield* client.raw("GetOngoingSyncStateSummary", none)), 4)).toBe(3n)
      expect(varintField(readFields(yield* client.raw("GetLastStateSummary", none)), 4)).toBe(3n)
      expect(varintField(readFields(yield* client.raw("ParseStateSummary", writeFields([[1, utf8("s")]]))), 3)).toBe(3n)
      expect(varintField(readFields(yield* client.raw("GetStateSummary", writeFields([[1, 1n]]))), 3)).toBe(3n)
      const accepted = readFields(yield* client.raw("StateSummaryAccept", writeFields([[1, utf8("s")]])))
      expect(varintField(accepted, 1)).toBe(1n) // MODE_SKIPPED
      expect(varintField(accepted, 2)).toBe(3n) // ERROR_STATE_SYNC_NOT_IMPLEMENTED

      // The rejected block's payload is still pending: it is built again.
      const rebuilt = readFields(yield* client.raw("BuildBlock", none))
      expect(bytesField(rebuilt, 2)).toEqual(b1)
      expect(varintField(rebuilt, 4)).toBe(2n)

      // An error of the VM reaches grpc-js as UNKNOWN with its text.
      const junk = yield* Effect.flip(client.raw("BlockVerify", writeFields([[1, utf8("junk")]])))
      expect(junk.code).toBe(2)
      expect(junk.details).toMatch(/^malformed block/)

      expect(yield* client.raw("Shutdown", none)).toHaveLength(0)
      expect(varintField(readFields(yield* client.raw("GetBlock", writeFields([[1, b1]]))), 6)).toBe(1n) // ERROR_CLOSED
      expect(field(readFields(yield* client.raw("Version", none)), 1).wireType).toBe(2)
    }))

  it.live("Version and Shutdown before Initialize", () =>
    Effect.gen(function*() {
      const { address } = yield* inProcess()
      const client = yield* grpcJsClient(address)
      expect(text(bytesField(readFields(yield* client.raw("Version", new Uint8Array(0))), 1))).toBe(VERSION)
      const early = yield* Effect.flip(client.raw("GetBlock", writeFields([[1, new Uint8Array(32)]])))
      expect(early.code).toBe(9) // FAILED_PRECONDITION
      expect(early.details).toMatch(/not initialized/)
      expect(yield* client.raw("Shutdown", new Uint8Array(0))).toHaveLength(0)
    }))
})
