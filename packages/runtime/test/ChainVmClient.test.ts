/**
 * The ChainVm client against a wire-level vm.VM served over real loopback HTTP/2: every RPC
 * with its request fields checked on the server side and its answer checked on ours.
 */
import { describe, expect, it } from "@effect/vitest"
import * as pb from "@vmre/proto/vm/vm_pb"
import { DateTime, Duration, Effect, Option } from "effect"
import type { NetworkUpgrades } from "../src/index.ts"
import { at, bytes, id, makeTestVm, millis, nodeId, VM_TIMESTAMP_MILLIS, withVm } from "./ChainVmSupport.ts"

describe("ChainVm client: every RPC, both directions", () => {
  it.live("Initialize sends every field (with the network upgrades) and maps the last accepted block", () => {
    const vm = makeTestVm()
    const upgrades: NetworkUpgrades = {
      apricotPhase1Time: at("2021-03-31T14:00:00Z"),
      apricotPhase2Time: at("2021-05-10T11:00:00Z"),
      apricotPhase3Time: at("2021-08-24T14:00:00Z"),
      apricotPhase4Time: at("2021-09-22T21:00:00Z"),
      apricotPhase4MinPChainHeight: 793_005n,
      apricotPhase5Time: at("2021-12-02T18:00:00Z"),
      apricotPhasePre6Time: at("2022-09-05T01:30:00Z"),
      apricotPhase6Time: at("2022-09-06T20:00:00Z"),
      apricotPhasePost6Time: at("2022-09-07T03:00:00Z"),
      banffTime: at("2022-10-18T16:00:00Z"),
      cortinaTime: at("2023-04-25T15:00:00Z"),
      cortinaXChainStopVertexId: id(0xcc),
      durangoTime: at("2024-03-06T16:00:00Z"),
      etnaTime: at("2024-12-16T17:00:00Z"),
      fortunaTime: at("2025-04-08T15:00:00Z"),
      graniteTime: at("9999-12-01T00:00:00.250Z"),
      graniteEpochDuration: Duration.nanos(30_000_000_123n),
      heliconTime: at("1969-12-31T23:59:58.500Z")
    }
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const result = yield* client.initialize({
          networkId: 1,
          subnetId: id(2),
          chainId: id(3),
          nodeId: nodeId(4),
          publicKey: bytes(5, 5, 5),
          xChainId: id(6),
          cChainId: id(7),
          avaxAssetId: id(8),
          chainDataDir: "/data/chain",
          genesisBytes: bytes(10),
          upgradeBytes: bytes(11),
          configBytes: bytes(12),
          dbServerAddr: "127.0.0.1:9001",
          serverAddr: "127.0.0.1:9002",
          networkUpgrades: upgrades
        })
        const request = vm.last<pb.InitializeRequest>("Initialize")
        expect(request).toMatchObject({
          networkId: 1,
          subnetId: id(2),
          chainId: id(3),
          nodeId: nodeId(4),
          publicKey: bytes(5, 5, 5),
          xChainId: id(6),
          cChainId: id(7),
          avaxAssetId: id(8),
          chainDataDir: "/data/chain",
          genesisBytes: bytes(10),
          upgradeBytes: bytes(11),
          configBytes: bytes(12),
          dbServerAddr: "127.0.0.1:9001",
          serverAddr: "127.0.0.1:9002"
        })
        const u = request.networkUpgrades!
        expect(u.apricotPhase1Time).toMatchObject({ seconds: 1_617_199_200n, nanos: 0 })
        expect(u.apricotPhase4MinPChainHeight).toBe(793_005n)
        expect(u.cortinaXChainStopVertexId).toEqual(id(0xcc))
        expect(u.graniteTime).toMatchObject({ seconds: 253_399_622_400n, nanos: 250_000_000 })
        expect(u.graniteEpochDuration).toMatchObject({ seconds: 30n, nanos: 123 })
        // Before 1970: seconds round down, nanos stay positive.
        expect(u.heliconTime).toMatchObject({ seconds: -2n, nanos: 500_000_000 })
        // Every timestamp is set.
        for (const [name, value] of Object.entries(u)) {
          if (name.endsWith("Time")) expect(value, name).toHaveProperty("seconds")
        }
        expect(result).toEqual({
          id: id(1),
          parentId: id(0),
          height: 5n,
          bytes: bytes(1, 2, 3),
          timestamp: DateTime.makeUnsafe(VM_TIMESTAMP_MILLIS)
        })
      }))
  })

  it.live("Initialize without network upgrades (luxd) leaves field 15 unset", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        yield* client.initialize({
          networkId: 96369,
          subnetId: id(2),
          chainId: id(3),
          nodeId: nodeId(4),
          publicKey: bytes(),
          xChainId: id(6),
          cChainId: id(7),
          avaxAssetId: id(8),
          chainDataDir: "",
          genesisBytes: bytes(),
          upgradeBytes: bytes(),
          configBytes: bytes(),
          dbServerAddr: "",
          serverAddr: ""
        })
        expect(vm.last<pb.InitializeRequest>("Initialize").networkUpgrades).toBeUndefined()
      }))
  })

  it.live("SetState sends the state enum and maps the answer", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const states = [["StateSyncing", 1], ["Bootstrapping", 2], ["NormalOp", 3]] as const
        for (const [state, wire] of states) {
          const result = yield* client.setState(state)
          expect(vm.last<pb.SetStateRequest>("SetState").state).toBe(wire)
          expect(result.height).toBe(6n)
        }
      }))
  })

  it.live("Shutdown, Version, CreateHandlers, NewHTTPHandler, WaitForEvent, Health", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        yield* client.shutdown()
        expect(vm.received.some((r) => r.method === "Shutdown")).toBe(true)
        expect(yield* client.version()).toBe("testvm/1.2.3")
        expect(yield* client.createHandlers()).toEqual([
          { prefix: "/rpc", serverAddr: "127.0.0.1:1234" },
          { prefix: "/ws", serverAddr: "127.0.0.1:1235" }
        ])
        expect(yield* client.newHttpHandler()).toEqual(Option.some("127.0.0.1:5678"))
        expect(yield* client.waitForEvent()).toBe("BuildBlock")
        expect(yield* client.health()).toEqual({ healthy: true, checks: 3 })
      }))
  })

  it.live("NewHTTPHandler without a handler, WaitForEvent state-sync-finished, empty health", () =>
    withVm(
      {
        newHTTPHandler: () => ({ serverAddr: "" }),
        waitForEvent: () => ({ message: pb.Message.STATE_SYNC_FINISHED }),
        health: () => ({})
      },
      (client) =>
        Effect.gen(function*() {
          expect(yield* client.newHttpHandler()).toEqual(Option.none())
          expect(yield* client.waitForEvent()).toBe("StateSyncFinished")
          expect(yield* client.health()).toBeNull()
        })
    ))

  it.live("Connected and Disconnected send the node id and version", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        yield* client.connected(nodeId(0xab), { name: "avalanchego", major: 1, minor: 14, patch: 2 })
        expect(vm.last<pb.ConnectedRequest>("Connected")).toMatchObject({
          nodeId: nodeId(0xab),
          name: "avalanchego",
          major: 1,
          minor: 14,
          patch: 2
        })
        yield* client.disconnected(nodeId(0xac))
        expect(vm.last<pb.DisconnectedRequest>("Disconnected").nodeId).toEqual(nodeId(0xac))
      }))
  })

  it.live("BuildBlock: p_chain_height 7 is sent as 7, and absent when not given", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const block = yield* client.buildBlock({ pChainHeight: 7n })
        expect(vm.last<pb.BuildBlockRequest>("BuildBlock").pChainHeight).toBe(7n)
        expect(block).toEqual({
          id: id(7),
          parentId: id(6),
          bytes: bytes(7, 7, 7),
          height: 7n,
          timestamp: DateTime.makeUnsafe(VM_TIMESTAMP_MILLIS),
          verifyWithContext: true,
          status: "Unspecified"
        })
        yield* client.buildBlock()
        expect(vm.last<pb.BuildBlockRequest>("BuildBlock").pChainHeight).toBeUndefined()
        // p_chain_height 0 is a set optional field, not an absent one.
        yield* client.buildBlock({ pChainHeight: 0n })
        expect(vm.last<pb.BuildBlockRequest>("BuildBlock").pChainHeight).toBe(0n)
      }))
  })

  it.live("ParseBlock sends the bytes and returns them with luxd's status", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const block = yield* client.parseBlock(bytes(8, 8))
        expect(vm.last<pb.ParseBlockRequest>("ParseBlock").bytes).toEqual(bytes(8, 8))
        expect(block).toMatchObject({ id: id(8), parentId: id(7), bytes: bytes(8, 8), height: 8n, status: "Accepted" })
        expect(block.verifyWithContext).toBe(false)
      }))
  })

  it.live("GetBlock: found, and ERROR_NOT_FOUND as NotFound", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const block = yield* client.getBlock(id(9))
        expect(vm.last<pb.GetBlockRequest>("GetBlock").id).toEqual(id(9))
        expect(block).toMatchObject({ id: id(9), parentId: id(8), bytes: bytes(9, 9), height: 9n, status: "Processing" })
        const error = yield* Effect.flip(client.getBlock(id(0x42)))
        expect(error._tag).toBe("NotFound")
        expect(error.message).toBe(`vm.VM/GetBlock: not found: block ${"42".repeat(32)}`)
      }))
  })

  it.live("SetPreference, BlockAccept and BlockReject send the id", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        yield* client.setPreference(id(20))
        yield* client.blockAccept(id(21))
        yield* client.blockReject(id(22))
        expect(vm.last<pb.SetPreferenceRequest>("SetPreference").id).toEqual(id(20))
        expect(vm.last<pb.BlockAcceptRequest>("BlockAccept").id).toEqual(id(21))
        expect(vm.last<pb.BlockRejectRequest>("BlockReject").id).toEqual(id(22))
      }))
  })

  it.live("BlockVerify sends bytes and the optional P-chain height, and answers the timestamp", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const timestamp = yield* client.blockVerify(bytes(1, 2), { pChainHeight: 99n })
        expect(vm.last<pb.BlockVerifyRequest>("BlockVerify")).toMatchObject({ bytes: bytes(1, 2), pChainHeight: 99n })
        expect(millis(timestamp)).toBe(VM_TIMESTAMP_MILLIS)
        yield* client.blockVerify(bytes(3))
        expect(vm.last<pb.BlockVerifyRequest>("BlockVerify").pChainHeight).toBeUndefined()
      }))
  })

  it.live("App messages: request (deadline round-trip), failed (negative sint32), response, gossip", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        yield* client.appRequest({
          nodeId: nodeId(1),
          requestId: 0xffff_ffff,
          deadline: at("2025-01-02T03:04:05.678Z"),
          request: bytes(1)
        })
        expect(vm.last<pb.AppRequestMsg>("AppRequest")).toMatchObject({
          nodeId: nodeId(1),
          requestId: 0xffff_ffff,
          deadline: { seconds: 1_735_787_045n, nanos: 678_000_000 },
          request: bytes(1)
        })
        yield* client.appRequestFailed({ nodeId: nodeId(2), requestId: 7, errorCode: -32000, errorMessage: "timed out" })
        expect(vm.last<pb.AppRequestFailedMsg>("AppRequestFailed")).toMatchObject({
          nodeId: nodeId(2),
          requestId: 7,
          errorCode: -32000,
          errorMessage: "timed out"
        })
        yield* client.appResponse({ nodeId: nodeId(3), requestId: 8, response: bytes(3) })
        expect(vm.last<pb.AppResponseMsg>("AppResponse")).toMatchObject({
          nodeId: nodeId(3),
          requestId: 8,
          response: bytes(3)
        })
        yield* client.appGossip({ nodeId: nodeId(4), msg: bytes(4) })
        expect(vm.last<pb.AppGossipMsg>("AppGossip")).toMatchObject({ nodeId: nodeId(4), msg: bytes(4) })
      }))
  })

  it.live("luxd's CrossChainApp messages carry the chain id", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        yield* client.crossChainAppRequest({
          chainId: id(30),
          requestId: 1,
          deadline: DateTime.makeUnsafe(0),
          request: bytes(30)
        })
        expect(vm.last<pb.CrossChainAppRequestMsg>("CrossChainAppRequest")).toMatchObject({
          chainId: id(30),
          requestId: 1,
          deadline: { seconds: 0n, nanos: 0 },
          request: bytes(30)
        })
        yield* client.crossChainAppRequestFailed({ chainId: id(31), requestId: 2, errorCode: -1, errorMessage: "x" })
        expect(vm.last<pb.CrossChainAppRequestFailedMsg>("CrossChainAppRequestFailed")).toMatchObject({
          chainId: id(31),
          requestId: 2,
          errorCode: -1,
          errorMessage: "x"
        })
        yield* client.crossChainAppResponse({ chainId: id(32), requestId: 3, response: bytes(32) })
        expect(vm.last<pb.CrossChainAppResponseMsg>("CrossChainAppResponse")).toMatchObject({
          chainId: id(32),
          requestId: 3,
          response: bytes(32)
        })
      }))
  })

  it.live("Gather maps metric families; gatherRaw gives the protobuf messages", () =>
    withVm(makeTestVm().impl, (client) =>
      Effect.gen(function*() {
        expect(yield* client.gather()).toEqual([
          {
            name: "blocks_built",
            help: "Blocks built",
            type: "counter",
            unit: undefined,
            metrics: [{ labels: { chain: "x" }, timestampMs: undefined, value: 3, summary: undefined, histogram: undefined }]
          },
          {
            name: "latency_seconds",
            help: "Latency",
            type: "histogram",
            unit: undefined,
            metrics: [{
              labels: {},
              timestampMs: 1_700_000_000_000n,
              value: undefined,
              summary: undefined,
              histogram: {
                sampleCount: 4,
                sampleSum: 1.5,
                buckets: [{ upperBound: 0.5, cumulativeCount: 3 }, { upperBound: Infinity, cumulativeCount: 4 }]
              }
            }]
          }
        ])
        const raw = yield* client.gatherRaw()
        expect(raw.map((f) => f.$typeName)).toEqual(["io.prometheus.client.MetricFamily", "io.prometheus.client.MetricFamily"])
      })))

  it.live("GetAncestors sends the limits (retrieval time as int64 nanoseconds)", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const blocks = yield* client.getAncestors({
          blkId: id(40),
          maxBlocksNum: 2048,
          maxBlocksSize: 2 * 1024 * 1024,
          maxBlocksRetrievalTime: Duration.seconds(5)
        })
        expect(vm.last<pb.GetAncestorsRequest>("GetAncestors")).toMatchObject({
          blkId: id(40),
          maxBlocksNum: 2048,
          maxBlocksSize: 2_097_152,
          maxBlocksRetrivalTime: 5_000_000_000n
        })
        expect(blocks).toEqual([bytes(1), bytes(2, 2)])
      }))
  })

  it.live("BatchedParseBlock: one block per entry, in order, with the bytes parsed", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const blocks = yield* client.batchedParseBlock([bytes(50, 1), bytes(51, 2)])
        expect(vm.last<pb.BatchedParseBlockRequest>("BatchedParseBlock").request).toEqual([bytes(50, 1), bytes(51, 2)])
        expect(blocks.map((b) => [b.id[0], b.parentId[0], b.height, b.bytes])).toEqual([
          [50, 49, 50n, bytes(50, 1)],
          [51, 50, 51n, bytes(51, 2)]
        ])
      }))
  })

  it.live("GetBlockIDAtHeight: found, and NotFound", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        expect(yield* client.getBlockIdAtHeight(10n)).toEqual(id(10))
        expect(vm.last<pb.GetBlockIDAtHeightRequest>("GetBlockIDAtHeight").height).toBe(10n)
        const error = yield* Effect.flip(client.getBlockIdAtHeight(18_446_744_073_709_551_615n))
        expect(vm.last<pb.GetBlockIDAtHeightRequest>("GetBlockIDAtHeight").height).toBe(18_446_744_073_709_551_615n)
        expect(error._tag).toBe("NotFound")
      }))
  })

  it.live("State sync: enabled, summaries, Closed, StateSyncNotImplemented, accept mode", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        expect(yield* client.stateSyncEnabled()).toBe(true)
        expect(yield* client.getOngoingSyncStateSummary()).toEqual({ id: id(11), height: 11n, bytes: bytes(11) })
        const closed = yield* Effect.flip(client.getLastStateSummary())
        expect(closed._tag).toBe("Closed")
        expect(closed.message).toBe("vm.VM/GetLastStateSummary: the vm is closed")
        expect(yield* client.parseStateSummary(bytes(12, 12))).toEqual({ id: id(12), height: 12n, bytes: bytes(12, 12) })
        expect(vm.last<pb.ParseStateSummaryRequest>("ParseStateSummary").bytes).toEqual(bytes(12, 12))
        expect(yield* client.getStateSummary(13n)).toEqual({ id: id(13), height: 13n, bytes: bytes(13) })
        expect(vm.last<pb.GetStateSummaryRequest>("GetStateSummary").height).toBe(13n)
        const notImplemented = yield* Effect.flip(client.getStateSummary(14n))
        expect(notImplemented._tag).toBe("StateSyncNotImplemented")
        expect(yield* client.stateSummaryAccept(bytes(15))).toBe("Dynamic")
        expect(vm.last<pb.StateSummaryAcceptRequest>("StateSummaryAccept").bytes).toEqual(bytes(15))
      }))
  })

  it.live("StateSyncEnabled reads ERROR_STATE_SYNC_NOT_IMPLEMENTED as false (as upstream)", () =>
    withVm({ stateSyncEnabled: () => ({ enabled: true, err: pb.Error.STATE_SYNC_NOT_IMPLEMENTED }) }, (client) =>
      Effect.gen(function*() {
        expect(yield* client.stateSyncEnabled()).toBe(false)
      })))
})
