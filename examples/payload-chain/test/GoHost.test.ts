/**
 * payload-chain launched and driven by a node written in Go with grpc-go (interop/go/bin/host,
 * built by the test suite's global setup): the handshake, Version, health, Initialize with an
 * rpcdb served by Go, a block built, verified and accepted, GetBlock and GetBlockIDAtHeight,
 * then the upstream stop (Shutdown, SIGTERM) ending in exit code 0; its HTTP API through the Go
 * node, and the node services the Go node serves it (app sender, warp signer).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll } from "vitest"
import { runGoHost, skipGo } from "../../../test-support/goInterop.ts"
import { VERSION } from "../src/PayloadChain.ts"
import { executable, freshBundle } from "./support.ts"

beforeAll(freshBundle, 60_000)

const runHost = (args: ReadonlyArray<string>) => runGoHost(args, executable)

/** A genesis file (in a directory removed with the scope) whose chain allows empty blocks: the Go host builds one right after Initialize. */
const emptyBlocksGenesis = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "payload-chain-go-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const genesis = join(dir, "genesis.json")
  writeFileSync(genesis, JSON.stringify({ message: "go host genesis", minPayloadsPerBlock: 0 }))
  return genesis
})

describe.skipIf(skipGo)("payload-chain under a Go node (grpc-go)", () => {
  it.live("is launched, driven through a block's life and stopped cleanly", () =>
    Effect.gen(function*() {
      const genesis = yield* emptyBlocksGenesis
      const { code, result, stderr } = yield* runHost(["-exercise", "-genesis", genesis])
      expect(result, stderr).toMatchObject({ ok: true, protocolVersion: 45, version: VERSION, health: "SERVING" })
      const exercise = result.exercise
      expect(exercise.initialize.height).toBe(0)
      expect(exercise.buildBlock.height).toBe(1)
      expect(exercise.buildBlock.parentId).toBe(exercise.initialize.id)
      expect(exercise.getBlock.id).toBe(exercise.buildBlock.id)
      expect(exercise.getBlockIdAtHeight.id).toBe(exercise.buildBlock.id)
      expect(exercise.getUnknownBlock.err).toBe("ERROR_NOT_FOUND")
      expect(JSON.stringify(exercise.health.details)).toContain("lastAcceptedHeight")
      // Shutdown, then SIGTERM: exit code 0, no SIGKILL.
      expect(result).toMatchObject({ killed: false, exitCode: 0 })
      expect(code).toBe(0)
    }))

  it.live("takes a genesis that is not JSON as its message", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "payload-chain-go-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      // Without the payload generator (on by default), the mempool stays empty.
      const config = join(dir, "config.json")
      writeFileSync(config, JSON.stringify({ autoPayload: null }))
      const { result, stderr } = yield* runHost(["-exercise", "-config", config])
      // The default rules need a payload per block: BuildBlock is refused with the reason.
      expect(result.stage, stderr).toBe("exercise")
      expect(result.exercise.initialize.height).toBe(0)
      expect(result.exercise.buildBlock.error).toMatch(/nothing to build/)
      expect(result).toMatchObject({ killed: false, exitCode: 0 })
    }))

  it.live("serves its HTTP API through the Go node: status by HandleSimple, a JSON-RPC submit by Handle", () =>
    Effect.gen(function*() {
      const genesis = yield* emptyBlocksGenesis
      const submit = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "payload.submit", params: { payload: "from go" } })
      const { result, stderr } = yield* runHost([
        "-exercise",
        "-genesis",
        genesis,
        "-http",
        "simple:GET:/status",
        "-http",
        `stream:POST:/rpc:${submit}`,
        "-http",
        "simple:POST:/rpc:not json"
      ])
      expect(result, stderr).toMatchObject({ ok: true, exitCode: 0 })
      const [status, submitted, garbage] = result.http
      expect(status).toMatchObject({ status: 200, headers: { "Content-Type": ["application/json"] } })
      expect(JSON.parse(status.body)).toMatchObject({ lastAcceptedHeight: "1", mempoolPayloads: 0 })
      expect(submitted.status).toBe(200)
      expect(JSON.parse(submitted.body)).toMatchObject({ id: 1, result: { payloadId: expect.any(String) } })
      expect(JSON.parse(garbage.body)).toMatchObject({ error: { code: -32700 } })
      // The node services the Go node serves, used by the VM: the submitted payload gossiped
      // through its app sender, its AppRequest "status" answered through it, the accepted
      // block signed by its warp signer (for this network and chain: nothing refused).
      const callbacks = result.callbacks
      expect(callbacks.gossipPayloads).toContain("from go")
      expect(callbacks.appResponses.map((r: string) => JSON.parse(r))).toEqual([{ height: "1", lastAccepted: expect.any(String) }])
      expect(callbacks).toMatchObject({ warpSign: 1, warpRefused: 0 })
    }))

  it.live("served by Connect's engine (VMRE_GRPC_ENGINE=connect, the fallback), it is driven the same way by the Go node", () =>
    Effect.gen(function*() {
      const genesis = yield* emptyBlocksGenesis
      const { code, result, stderr } = yield* runHost(["-exercise", "-genesis", genesis, "-env", "VMRE_GRPC_ENGINE=connect", "-http", "stream:GET:/status"])
      expect(result, stderr).toMatchObject({ ok: true, protocolVersion: 45, version: VERSION, health: "SERVING" })
      expect(result.exercise.buildBlock.height).toBe(1)
      expect(result.exercise.getBlockIdAtHeight.id).toBe(result.exercise.buildBlock.id)
      expect(result.exercise.getUnknownBlock.err).toBe("ERROR_NOT_FOUND")
      expect(JSON.parse(result.http[0].body)).toMatchObject({ lastAcceptedHeight: "1" })
      expect(result).toMatchObject({ killed: false, exitCode: 0 })
      expect(code).toBe(0)
    }))
})
