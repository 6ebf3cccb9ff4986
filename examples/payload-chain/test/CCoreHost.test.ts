/**
 * payload-chain launched and driven by a node on gRPC's C-core (interop/ccore/node.py, Debian's
 * python3-grpcio): the handshake, Version, grpc health, an unknown method answered UNIMPLEMENTED
 * as a gRPC status, 1 KiB and 1 MiB requests, SIGTERM ignored until Shutdown, then the stop.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { beforeAll } from "vitest"
import { runCCoreNode, skipCCore } from "../../../test-support/ccoreInterop.ts"
import { VERSION } from "../src/PayloadChain.ts"
import { executable, freshBundle } from "./support.ts"

beforeAll(freshBundle, 60_000)

describe.skipIf(skipCCore)("payload-chain under a C-core node", () => {
  it.live("handshakes, answers the gRPC way, and stops with the upstream sequence", () =>
    Effect.gen(function*() {
      const { result, stderr } = yield* runCCoreNode([], executable)
      expect(result, stderr).toMatchObject({
        ok: true,
        protocolVersion: 45,
        version: VERSION,
        health: 1, // SERVING
        unknownMethod: { code: "UNIMPLEMENTED", details: "unknown method NoSuchMethod for service vm.VM" },
        aliveAfterEarlySigterm: true,
        exit: 0
      })
      // Both sizes reach the VM whole: it answers as it answers before Initialize.
      for (const size of ["1024", "1048576"]) {
        expect(result.parseBlock[size], size).toEqual({
          code: "FAILED_PRECONDITION",
          details: "the vm is not initialized - call Initialize first"
        })
      }
      expect(result.stopMs).toBeLessThan(5_000)
    }))

  it.live("a node of another protocol version refuses it, and it exits 1", () =>
    Effect.gen(function*() {
      const { result, stderr } = yield* runCCoreNode(["--protocol", "44"], executable)
      expect(result, stderr).toMatchObject({ ok: true, mismatch: true, protocolVersion: 45, pluginExit: 1 })
      expect(stderr).toContain("handshake failed - protocol version mismatch - node 44 vm 45")
    }))
})
