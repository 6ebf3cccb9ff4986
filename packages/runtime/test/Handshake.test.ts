import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeInitializer, validateVmAddress } from "../src/Handshake.ts"

describe("validateVmAddress", () => {
  it("accepts loopback host:port", () => {
    for (const addr of ["127.0.0.1:1", "127.0.0.1:65535", "127.5.6.7:9651", "localhost:80", "[::1]:443"]) {
      expect(validateVmAddress(addr), addr).toBeUndefined()
    }
  })
  it("refuses other hosts and malformed addresses", () => {
    expect(validateVmAddress("10.1.2.3:80")).toBe("10.1.2.3 is not a loopback address")
    expect(validateVmAddress("0.0.0.0:80")).toBe("0.0.0.0 is not a loopback address")
    expect(validateVmAddress("[::]:80")).toBe("[::] is not a loopback address")
    expect(validateVmAddress("example.com:80")).toBe("example.com is not a loopback address")
    expect(validateVmAddress("127.0.0.1:0")).toBe("port 0 is out of range")
    expect(validateVmAddress("127.0.0.1:70000")).toBe("port 70000 is out of range")
    for (const addr of ["", "127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:80/x", "a b:1", "127.0.0.256:1", "unix:/tmp/x"]) {
      expect(validateVmAddress(addr), addr).not.toBeUndefined()
    }
  })
})

describe("makeInitializer", () => {
  it.effect("the first Initialize wins; later ones are refused", () =>
    Effect.gen(function*() {
      const initializer = yield* makeInitializer({ protocolVersion: 45, path: "/p" })
      yield* initializer.initialize({ protocolVersion: 45, vmAddr: "127.0.0.1:5000" })
      const second = yield* Effect.flip(initializer.initialize({ protocolVersion: 45, vmAddr: "127.0.0.1:6000" }))
      expect(second._tag).toBe("HandshakeAlreadyDone")
      expect(yield* initializer.initialized).toEqual({ protocolVersion: 45, vmAddr: "127.0.0.1:5000" })
    }))

  it.effect("a version mismatch fails both the call and the handshake", () =>
    Effect.gen(function*() {
      const initializer = yield* makeInitializer({ protocolVersion: 45, path: "/p" })
      const answer = yield* Effect.flip(initializer.initialize({ protocolVersion: 46, vmAddr: "127.0.0.1:5000" }))
      expect(answer._tag).toBe("ProtocolVersionMismatch")
      const outcome = yield* Effect.flip(initializer.initialized)
      expect(outcome.message).toMatch(/^handshake failed: protocol version mismatch node: 45 vm: 46\. /)
      // A retry with the right version cannot repair a failed handshake.
      const retry = yield* Effect.flip(initializer.initialize({ protocolVersion: 45, vmAddr: "127.0.0.1:5000" }))
      expect(retry._tag).toBe("HandshakeAlreadyDone")
    }))

  it.effect("a set of versions accepts any of them and reports the one spoken", () =>
    Effect.gen(function*() {
      const initializer = yield* makeInitializer({ protocolVersion: [42, 43, 44, 45], path: "/p" })
      yield* initializer.initialize({ protocolVersion: 43, vmAddr: "127.0.0.1:5000" })
      expect(yield* initializer.initialized).toEqual({ protocolVersion: 43, vmAddr: "127.0.0.1:5000" })
    }))

  it.effect("a mismatch against a set names the whole set", () =>
    Effect.gen(function*() {
      const initializer = yield* makeInitializer({ protocolVersion: [45, 35, 44], path: "/p" })
      const answer = yield* Effect.flip(initializer.initialize({ protocolVersion: 46, vmAddr: "127.0.0.1:5000" }))
      expect(answer._tag).toBe("ProtocolVersionMismatch")
      const outcome = yield* Effect.flip(initializer.initialized)
      expect(outcome).toMatchObject({ node: 45, vm: 46, accepted: [35, 44, 45] })
      expect(outcome.message).toMatch(/^handshake failed: protocol version mismatch node: 35,44,45 vm: 46\. /)
      expect(outcome.message).toContain("one of 35 (avalanchego v1.11.3-v1.11.9), 44 (")
    }))
})
