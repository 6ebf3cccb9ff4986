/**
 * The ChainVm client refusing values it cannot send, sorting every way a call can fail, and
 * its in-process test layer.
 */
import { create } from "@bufbuild/protobuf"
import { TimestampSchema } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { describe, expect, it } from "@effect/vitest"
import * as pb from "@vmre/proto/vm/vm_pb"
import { Duration, Effect, Exit, Fiber, Option } from "effect"
import * as http2 from "node:http2"
import { ChainVm, type ChainVmClient, type Id, NodeId } from "../src/index.ts"
import { at, bytes, freePort, id, makeTestVm, never, nodeId, vmError, withVm } from "./ChainVmSupport.ts"

describe("ChainVm client: refusing bad values", () => {
  const badId = new Uint8Array(31) as Id

  it.live("a 31-byte id, a 21-byte node id and out-of-range numbers are refused before sending", () => {
    const vm = makeTestVm()
    return withVm(vm.impl, (client) =>
      Effect.gen(function*() {
        const getBlock = yield* Effect.flip(client.getBlock(badId))
        expect(getBlock._tag).toBe("InvalidRequest")
        expect(getBlock.message).toBe("vm.VM/GetBlock: invalid request, not sent: id must be a 32-byte id, got 31 bytes")
        const accept = yield* Effect.flip(client.blockAccept(badId))
        expect(accept._tag).toBe("InvalidRequest")
        const node = yield* Effect.flip(client.disconnected(new Uint8Array(21) as NodeId))
        expect(node.message).toContain("node_id must be a 20-byte node id, got 21 bytes")
        const height = yield* Effect.flip(client.buildBlock({ pChainHeight: -1n }))
        expect(height.message).toContain("p_chain_height must be a uint64")
        const big = yield* Effect.flip(client.getBlockIdAtHeight(1n << 64n))
        expect(big._tag).toBe("InvalidRequest")
        const requestId = yield* Effect.flip(
          client.appResponse({ nodeId: nodeId(1), requestId: -1, response: bytes() })
        )
        expect(requestId.message).toContain("request_id must be a uint32")
        const code = yield* Effect.flip(
          client.appRequestFailed({ nodeId: nodeId(1), requestId: 1, errorCode: 2 ** 31, errorMessage: "" })
        )
        expect(code.message).toContain("error_code must be a int32")
        const deadline = yield* Effect.flip(
          client.appRequest({ nodeId: nodeId(1), requestId: 1, deadline: at("+010000-01-01T00:00:00Z"), request: bytes() })
        )
        expect(deadline.message).toContain("deadline is outside the range of a protobuf Timestamp")
        const forever = yield* Effect.flip(
          client.getAncestors({ blkId: id(1), maxBlocksNum: 1, maxBlocksSize: 1, maxBlocksRetrievalTime: Duration.infinity })
        )
        expect(forever.message).toContain("max_blocks_retrival_time must be a finite duration")
        // None of these reached the VM.
        expect(vm.received).toEqual([])
      }))
  })

  it("the Id and NodeId schemas check lengths", () => {
    expect(() => NodeId.make(new Uint8Array(32))).toThrow()
    expect(id(1).length).toBe(32)
    expect(Option.isNone(NodeId.makeOption(new Uint8Array(19)))).toBe(true)
  })

  it.live("an answer that breaks the protocol is InvalidResponse", () =>
    withVm(
      {
        buildBlock: () => ({ id: new Uint8Array(31), parentId: id(1), timestamp: create(TimestampSchema, {}) }),
        parseBlock: () => ({ id: id(1), parentId: id(0) }),
        getBlock: () => ({ parentId: id(0), timestamp: create(TimestampSchema, { nanos: 1_000_000_000 }) }),
        batchedParseBlock: () => ({ response: [] }),
        getBlockIDAtHeight: () => ({ err: 9 as pb.Error }),
        waitForEvent: () => ({}),
        health: () => ({ details: new TextEncoder().encode("{not json") }),
        stateSummaryAccept: () => ({})
      },
      (client) =>
        Effect.gen(function*() {
          const reasons = [
            yield* Effect.flip(client.buildBlock()),
            yield* Effect.flip(client.parseBlock(bytes(1))),
            yield* Effect.flip(client.getBlock(id(1))),
            yield* Effect.flip(client.batchedParseBlock([bytes(1)])),
            yield* Effect.flip(client.getBlockIdAtHeight(1n)),
            yield* Effect.flip(client.waitForEvent()),
            yield* Effect.flip(client.health()),
            yield* Effect.flip(client.stateSummaryAccept(bytes(1)))
          ].map((e) => `${e._tag}: ${e.message}`)
          expect(reasons).toEqual([
            "InvalidResponse: vm.VM/BuildBlock: invalid answer from the vm: id must be 32 bytes, got 31",
            "InvalidResponse: vm.VM/ParseBlock: invalid answer from the vm: timestamp is missing",
            "InvalidResponse: vm.VM/GetBlock: invalid answer from the vm: timestamp is not a valid timestamp (seconds 0, nanos 1000000000)",
            "InvalidResponse: vm.VM/BatchedParseBlock: invalid answer from the vm: 0 blocks for 1 requested",
            "InvalidResponse: vm.VM/GetBlockIDAtHeight: invalid answer from the vm: unknown err value 9",
            "InvalidResponse: vm.VM/WaitForEvent: invalid answer from the vm: unknown message value 0",
            expect.stringMatching(/^InvalidResponse: vm\.VM\/Health: invalid answer from the vm: details are not JSON/),
            "InvalidResponse: vm.VM/StateSummaryAccept: invalid answer from the vm: unknown mode value 0"
          ])
        })
    ))
})

describe("ChainVm client: failures of the call", () => {
  it.live("an error status of the VM is VmCallFailed with its text; Unimplemented too", () =>
    withVm({ blockVerify: vmError("block 0xab failed verification: bad parent") }, (client) =>
      Effect.gen(function*() {
        const failed = yield* Effect.flip(client.blockVerify(bytes(1)))
        expect(failed).toMatchObject({
          _tag: "VmCallFailed",
          method: "BlockVerify",
          code: "Unknown",
          reason: "block 0xab failed verification: bad parent"
        })
        const missing = yield* Effect.flip(client.version())
        expect(missing).toMatchObject({ _tag: "VmCallFailed", method: "Version", code: "Unimplemented" })
      })))

  it.live("a VM answering Unavailable is VmUnavailable", () =>
    withVm({
      version: () => {
        throw new ConnectError("draining", Code.Unavailable)
      }
    }, (client) =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(client.version())).toMatchObject({
          _tag: "VmUnavailable",
          code: "Unavailable",
          reason: "draining"
        })
      })))

  it.live("a call without an answer ends at its timeout with VmUnavailable(DeadlineExceeded)", () =>
    withVm({ buildBlock: never }, (client) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(client.buildBlock())
        expect(error).toMatchObject({ _tag: "VmUnavailable", method: "BuildBlock", code: "DeadlineExceeded" })
      }), { callTimeout: "300 millis" }))

  it.live("a per-RPC timeout overrides the default, and the VM sees the deadline", () => {
    let seen: number | undefined
    return withVm({
      version: (_request, context) => {
        seen = context.timeoutMs()
        return { version: "v" }
      }
    }, (client) =>
      Effect.gen(function*() {
        yield* client.version()
        expect(seen).toBeGreaterThan(1_000)
        expect(seen).toBeLessThanOrEqual(2_000)
      }), { timeouts: { Version: "2 seconds" } })
  })

  it.live("WaitForEvent has no timeout by default; interrupting it cancels the call on the VM", () => {
    let aborted = false
    let started = false
    return withVm({
      waitForEvent: (_request, context) => {
        started = true
        context.signal.addEventListener("abort", () => (aborted = true))
        return never(_request, context)
      }
    }, (client) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(client.waitForEvent())
        yield* Effect.sleep("500 millis")
        expect(started).toBe(true)
        // Still pending after longer than a 300 ms call timeout.
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* Fiber.interrupt(fiber)
        for (let i = 0; i < 50 && !aborted; i++) yield* Effect.sleep("20 millis")
        expect(aborted).toBe(true)
      }), { callTimeout: "300 millis" })
  })

  it.live("an address that does not answer: VmUnavailable; calls wait for it until their timeout, health fails fast", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      const client = yield* ChainVm.make({ address: `127.0.0.1:${port}`, callTimeout: "600 millis" })
      const version = yield* Effect.flip(client.version())
      expect(version).toMatchObject({ _tag: "VmUnavailable", method: "Version", code: "DeadlineExceeded" })
      const slow = yield* ChainVm.make({ address: `127.0.0.1:${port}`, callTimeout: "60 seconds" })
      // Health does not wait for the connection: it fails long before its 60 s timeout.
      const health = yield* Effect.flip(slow.health()).pipe(Effect.timeout("5 seconds"))
      expect(health).toMatchObject({ _tag: "VmUnavailable", method: "Health", code: "Unavailable" })
      expect(health.message).toMatch(/^vm\.VM\/Health failed: the vm is unavailable \(Unavailable\): .*ECONNREFUSED/)
    }).pipe(Effect.scoped))

  it.live("a call waits for the VM to start listening (wait for ready)", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      const client = yield* ChainVm.make({ address: `127.0.0.1:${port}`, callTimeout: "10 seconds" })
      const fiber = yield* Effect.forkChild(client.version())
      yield* Effect.sleep("300 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      // Now start a VM on that port.
      yield* Effect.acquireRelease(
        Effect.callback<http2.Http2Server>((resume) => {
          const server = http2.createServer(connectNodeAdapter({
            routes: (router) => router.service(pb.VM, { version: () => ({ version: "late" }) })
          }))
          server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            // The client's idle session would hold close() open.
            setTimeout(() => resume(Effect.void), 200)
          })
      )
      expect(yield* Fiber.join(fiber).pipe(Effect.timeout("8 seconds"))).toBe("late")
    }).pipe(Effect.scoped))

  it.live("calls after the client's scope closed fail with VmUnavailable(Canceled)", () =>
    Effect.gen(function*() {
      let leaked: ChainVmClient | undefined
      yield* withVm(makeTestVm().impl, (client) =>
        Effect.sync(() => {
          leaked = client
        }))
      const error = yield* Effect.flip(leaked!.version())
      expect(error).toMatchObject({ _tag: "VmUnavailable", code: "Canceled", reason: "the client is closed" })
    }))
})

describe("ChainVm.layerTest", () => {
  it.effect("serves the client from an in-process implementation (no socket, no process)", () =>
    Effect.gen(function*() {
      const vm = yield* ChainVm
      expect(yield* vm.version()).toBe("testvm/1.2.3")
      const block = yield* vm.buildBlock({ pChainHeight: 3n })
      expect(block.id).toEqual(id(7))
      expect((yield* Effect.flip(vm.getBlock(id(1))))._tag).toBe("NotFound")
    }).pipe(Effect.provide(ChainVm.layerTest(makeTestVm().impl))))

  it.effect("methods the implementation leaves out answer Unimplemented", () =>
    Effect.gen(function*() {
      const vm = yield* ChainVm
      expect(yield* vm.version()).toBe("only")
      const error = yield* Effect.flip(vm.shutdown())
      expect(error).toMatchObject({ _tag: "VmCallFailed", code: "Unimplemented" })
      expect(Exit.isSuccess(yield* Effect.exit(vm.version()))).toBe(true)
    }).pipe(Effect.provide(ChainVm.layerTest({ version: () => ({ version: "only" }) }))))
})
