/**
 * The node services at `server_addr`: the Go interop plugin (grpc-go) calls every one of them
 * from its Initialize, as a VM built for avalanchego does; BLS signing against known vectors.
 */
import { describe, expect, it } from "@effect/vitest"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { fromBinary, toBinary } from "@bufbuild/protobuf"
import {
  GetCurrentValidatorSetResponseSchema,
  type LuxdGetCurrentValidatorSetResponse,
  LuxdGetCurrentValidatorSetResponseSchema,
  ValidatorState
} from "@vmre/proto/validatorstate/validatorstate_pb"
import { Signer } from "@vmre/proto/warp/warp_pb"
import { GrpcClient } from "@vmre/transport"
import { Ids, LuxdServices } from "@vmre/wire"
import { DateTime, Effect, Option } from "effect"
import * as PrefixDatabase from "../src/PrefixDatabase.ts"
import { readFileSync } from "node:fs"
import { goPluginPath, skipGo } from "../../../test-support/goInterop.ts"
import { NodeConfig } from "../src/NodeConfig.ts"
import { ValidatorSet } from "../src/services/ValidatorSet.ts"
import { AppNetwork } from "../src/services/AppNetwork.ts"
import * as NodeServicesServer from "../src/services/NodeServicesServer.ts"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import * as Warp from "../src/services/WarpSigner.ts"
import { WarpSigner } from "../src/services/WarpSigner.ts"
import { VmFactory } from "../src/VmFactory.ts"
import * as Chain from "../src/Chain.ts"
import { chainIdOf, payloadChainBin, tempDir, testNode, vmIdOf, testServices } from "./support.ts"

const hex = (text: string) => new Uint8Array(Buffer.from(text, "hex"))

describe("warp signing", () => {
  // The BLS signature test vectors of the Ethereum consensus specs (same scheme and DST as avalanchego).
  it("signs as BLS12-381 with the proof-of-possession DST, matching known vectors", () => {
    const secretKey = hex("263dbd792f5b1be47ed85f8938c0f29586af0d3ac7b977f21c278fe1462040e3")
    expect(Ids.toHex(Warp.publicKeyOf(secretKey))).toBe(
      "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20fd6e10c1b77654d067c0618f6e5a7f79a"
    )
    expect(Ids.toHex(Warp.signBytes(secretKey, new Uint8Array(32), Warp.signatureDst("avalanchego")))).toBe(
      "b6ed936746e01f8ecf281f020953fbf1f01debd5657c4a383940b020b26507f6076334f91e2366c96e9ab279fb5158090352ea1c5b0c9274504f4f0e7053af24802e51e4568d164fe986834f41e55c8e850ce1f98458c0cfc9ab380b55285a55"
    )
    // luxd's basic scheme signs the same bytes differently: the two nodes' signatures do not cross-verify.
    expect(Ids.toHex(Warp.signBytes(secretKey, new Uint8Array(32), Warp.signatureDst("luxd")))).not.toBe(
      Ids.toHex(Warp.signBytes(secretKey, new Uint8Array(32), Warp.signatureDst("avalanchego")))
    )
  })

  it("lays out an unsigned message as the linear codec does", () => {
    const bytes = Warp.encodeUnsigned({ networkId: 12345, sourceChainId: new Uint8Array(32).fill(7), payload: new Uint8Array([1, 2, 3]) })
    expect(Ids.toHex(bytes)).toBe(`0000${"00003039"}${"07".repeat(32)}${"00000003"}010203`)
  })
})

describe.skipIf(skipGo)("node services at server_addr", () => {
  it.live("a Go VM calls every service from its Initialize and gets upstream's answers", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-services-")
      const report = `${dir}/callbacks.json`
      const chainId = chainIdOf(30)
      const node = testNode(dir, {
        plugins: [{ vmId: vmIdOf(2), path: goPluginPath }],
        launch: { launch: { env: { GO_PLUGIN_CALLBACKS: report } } }
      })
      yield* Effect.gen(function*() {
        const factory = yield* VmFactory
        const config = yield* NodeConfig
        yield* factory.create({ chainId, vm: vmIdOf(2), name: "go-chain" })
        const got = JSON.parse(readFileSync(report, "utf8"))
        expect(got).toMatchObject({
          subnetId: "00".repeat(32),
          validators: [`${Ids.toHex(config.nodeId)}:100`],
          validatorKeyIsOurs: true,
          warpSets: 1,
          warpTotalWeight: 100,
          aliases: null,
          health: "SERVING",
          appGossipSent: true,
          appRequestSent: true
        })
        // Shared memory: the put for a peer is not ours to read; the batch reached our database.
        expect(got).toMatchObject({ sharedApplied: true })
        expect(got.sharedGetError).toMatch(/code = Unknown desc = not found/)
        const store = yield* NodeDatabase
        const chainDb = yield* PrefixDatabase.make(store, PrefixDatabase.chainVmPrefix("avalanchego", chainId))
        expect(Option.map(yield* chainDb.get(new TextEncoder().encode("go-batch")), (v) => new TextDecoder().decode(v)))
          .toEqual(Option.some("written atomically"))
        expect(got.primaryAliasError).toContain(`there is no alias for ID: ${Ids.toString(chainId)}`)
        expect(got.lookupError).toContain("there is no ID with alias: no-such-alias")
        expect(got.wrongChainError).toMatch(/code = Unknown desc = wrong SourceChainID/)
        expect(got.wrongNetworkError).toMatch(/code = Unknown desc = wrong networkID/)
        // The signature is the node's, over the unsigned message the VM asked for.
        const signer = yield* WarpSigner
        expect(signer.verify({ networkId: config.networkId, sourceChainId: chainId, payload: new TextEncoder().encode("hello warp") }, hex(got.signature)))
          .toBe(true)
        // The VM's app messages reached the node's network, marked with their chain.
        const sent = yield* (yield* AppNetwork).sent
        expect(sent.map((m) => m._tag)).toEqual(["AppGossip", "AppRequest"])
        expect(sent.every((m) => Ids.equals(m.chainId, chainId))).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(node))
    }).pipe(Effect.scoped), 60_000)
})

describe("node services under bad input", () => {
  it.live("malformed ids get INVALID_ARGUMENT, a refused signature UNKNOWN, and the server keeps serving", () =>
    Effect.gen(function*() {
      const chainId = chainIdOf(31)
      const server = yield* NodeServicesServer.serve({ chainId, networkId: 5 })
      const { transport } = yield* GrpcClient.transport(server.address)
      const validators = createClient(ValidatorState, transport)
      const signer = createClient(Signer, transport)
      const failure = (promise: Promise<unknown>) =>
        Effect.promise(() => promise.then(() => undefined, (error) => ConnectError.from(error)))
      const short = yield* failure(validators.getSubnetID({ chainId: new Uint8Array(3) }))
      expect(short?.code).toBe(Code.InvalidArgument)
      expect(short?.rawMessage).toBe("invalid chain_id: 3 bytes, not 32")
      const wrong = yield* failure(signer.sign({ networkId: 5, sourceChainId: new Uint8Array(5), payload: new Uint8Array(1) }))
      expect(wrong?.code).toBe(Code.Unknown)
      expect(wrong?.rawMessage).toBe("wrong SourceChainID")
      // A 10 MiB payload is signed like any other; the server is still there afterwards.
      const big = yield* Effect.promise(() => signer.sign({ networkId: 5, sourceChainId: chainId, payload: new Uint8Array(10 * 1024 * 1024) }))
      expect(big.signature.length).toBe(96)
      expect((yield* Effect.promise(() => validators.getSubnetID({ chainId }))).subnetId).toEqual(new Uint8Array(32))
    }).pipe(
      Effect.scoped,
      Effect.provide(testServices)
    ))
})

describe("validator sets in each node's numbering", () => {
  it.live("GetCurrentValidatorSet: avalanchego numbers min_nonce/is_active/validation_id 5/6/7, luxd 7/5/6", () =>
    Effect.gen(function*() {
      const chainId = chainIdOf(32)
      const current = (flavour: "avalanchego" | "luxd") =>
        Effect.gen(function*() {
          const server = yield* NodeServicesServer.serve({ chainId, networkId: 5, flavour })
          const { transport } = yield* GrpcClient.transport(server.address)
          const client = createClient(flavour === "luxd" ? LuxdServices.LuxdValidatorState : ValidatorState, transport)
          return yield* Effect.promise(() => client.getCurrentValidatorSet({ subnetId: new Uint8Array(32) }))
        })
      for (const flavour of ["avalanchego", "luxd"] as const) {
        const answer = yield* current(flavour)
        expect(answer.validators.length, flavour).toBe(1)
        expect(answer.validators[0]).toMatchObject({ weight: 100n, isActive: true })
        expect(answer.validators[0]!.validationId.length).toBe(32)
      }
      // The same answer read with the other node's numbering is not the same validator.
      const luxdBytes = toBinary(LuxdGetCurrentValidatorSetResponseSchema, (yield* current("luxd")) as LuxdGetCurrentValidatorSetResponse)
      const misread = (() => {
        try {
          return fromBinary(GetCurrentValidatorSetResponseSchema, luxdBytes).validators[0]
        } catch {
          return undefined
        }
      })()
      expect(misread?.isActive === true && misread.validationId.length === 32).toBe(false)
    }).pipe(
      Effect.scoped,
      Effect.provide(ValidatorSet.layerTest({ validators: [{ nodeId: Ids.NodeId.make(new Uint8Array(20).fill(3)), weight: 100n, publicKey: new Uint8Array(96) }] })),
      Effect.provide(testServices)
    ))
})

describe("the example VM with the node services", () => {
  it.live("gossips its payloads, answers a status request, and has each accepted block warp-signed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-services-ts-")
      const chainId = chainIdOf(32)
      const node = testNode(dir, { plugins: [{ vmId: vmIdOf(1), path: payloadChainBin }] })
      yield* Effect.gen(function*() {
        const config = yield* NodeConfig
        const network = yield* AppNetwork
        const chain = yield* Chain.run({
          chainId,
          vm: vmIdOf(1),
          config: new TextEncoder().encode(JSON.stringify({ autoPayload: { intervalMillis: 100, bytes: 32 } }))
        })
        while ((yield* chain.status).height < 2n) yield* Effect.sleep("20 millis")
        const { client } = yield* chain.instance
        // Every generated payload went out as gossip, marked with the chain.
        const gossip = (yield* network.sent).filter((m) => m._tag === "AppGossip")
        expect(gossip.length).toBeGreaterThanOrEqual(2)
        // The node signed a warp message over the last accepted block's id; it verifies with the node's key.
        const signer = yield* WarpSigner
        // The SDK's health report holds the VM's own under `health`.
        type Health = { health: { latestWarp?: { block: string; height: string; signature: string } } }
        let health = (yield* client.health()) as Health
        for (let i = 0; i < 100 && health.health.latestWarp === undefined; i++) {
          yield* Effect.sleep("20 millis")
          health = (yield* client.health()) as Health
        }
        const latest = health.health.latestWarp!
        const blockAt = yield* client.getBlockIdAtHeight(BigInt(latest.height))
        expect(latest.block).toBe(Ids.toString(blockAt))
        const payload = blockAt
        expect(signer.verify({ networkId: config.networkId, sourceChainId: chainId, payload }, hex(latest.signature)))
          .toBe(true)
        // A peer's "status" request is answered through the node's app sender.
        const peer = Ids.NodeId.make(new Uint8Array(20).fill(9))
        yield* client.appRequest({ nodeId: peer, requestId: 41, deadline: DateTime.makeUnsafe(Date.now() + 5_000), request: new TextEncoder().encode("status") })
        yield* client.appRequest({ nodeId: peer, requestId: 42, deadline: DateTime.makeUnsafe(Date.now() + 5_000), request: new TextEncoder().encode("?") })
        const answers = (yield* network.sent).filter((m) => m._tag === "AppResponse" || m._tag === "AppError")
        expect(answers[0]).toMatchObject({ _tag: "AppResponse", requestId: 41 })
        expect(JSON.parse(new TextDecoder().decode((answers[0] as { response: Uint8Array }).response))).toMatchObject({
          lastAccepted: expect.any(String)
        })
        expect(answers[1]).toMatchObject({ _tag: "AppError", requestId: 42, errorCode: 1 })
      }).pipe(Effect.scoped, Effect.provide(node))
    }).pipe(Effect.scoped), 60_000)
})
