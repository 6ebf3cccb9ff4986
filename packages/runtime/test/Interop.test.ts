/**
 * The runtime handshake against an independent gRPC stack (@grpc/grpc-js), both ways:
 * a grpc-js plugin calling our runtime server, and our plugin SDK calling a grpc-js node.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { EmptySchema } from "@bufbuild/protobuf/wkt"
import * as grpc from "@grpc/grpc-js"
import { describe, expect, it } from "@effect/vitest"
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema
} from "@vmre/proto/grpc/health/v1/health_pb"
import { type InitializeRequest, InitializeRequestSchema } from "@vmre/proto/vm/runtime/runtime_pb"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { Handshake } from "../src/Handshake.ts"
import { EngineEnv } from "@vmre/wire"
import { fixturePath, isAlive } from "./support.ts"

const initializeMethod = {
  path: "/vm.runtime.Runtime/Initialize",
  requestStream: false,
  responseStream: false,
  requestSerialize: (m: InitializeRequest) => Buffer.from(toBinary(InitializeRequestSchema, create(InitializeRequestSchema, m))),
  requestDeserialize: (b: Buffer) => fromBinary(InitializeRequestSchema, b),
  responseSerialize: () => Buffer.from(toBinary(EmptySchema, create(EmptySchema))),
  responseDeserialize: (b: Buffer) => fromBinary(EmptySchema, b)
} as const

const RuntimeClient = grpc.makeGenericClientConstructor({ initialize: initializeMethod }, "Runtime")

const callInitialize = (address: string, protocolVersion: number, addr: string, metadata = new grpc.Metadata()) =>
  Effect.callback<grpc.ServiceError | undefined>((resume) => {
    const client = new RuntimeClient(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      initialize: (
        req: unknown,
        metadata: grpc.Metadata,
        opts: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null) => void
      ) => void
    }
    client.initialize(
      create(InitializeRequestSchema, { protocolVersion, addr }),
      metadata,
      { deadline: Date.now() + 5_000 },
      (error) => {
        client.close()
        resume(Effect.succeed(error ?? undefined))
      }
    )
  })

describe("handshake interop with @grpc/grpc-js", () => {
  it.live("a grpc-js plugin handshakes with our runtime server", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const pending = yield* handshake.listen({ protocolVersion: 45, path: "/grpc-js-plugin" })
      const error = yield* callInitialize(pending.address, 45, "127.0.0.1:4242")
      expect(error).toBeUndefined()
      expect(yield* pending.initialized).toEqual({ protocolVersion: 45, vmAddr: "127.0.0.1:4242" })
      // Later calls are refused.
      const again = yield* callInitialize(pending.address, 45, "127.0.0.1:4243")
      expect(again?.code).toBe(grpc.status.FAILED_PRECONDITION)
    }).pipe(Effect.provide(Handshake.layer), Effect.scoped))

  it.live("a grpc-js plugin with the wrong version gets an error naming both versions", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const pending = yield* handshake.listen({ protocolVersion: 45, path: "/grpc-js-plugin" })
      const error = yield* callInitialize(pending.address, 44, "127.0.0.1:4242")
      expect(error?.code).toBe(grpc.status.UNKNOWN)
      expect(error?.details).toBe("handshake failed - protocol version mismatch - node 45 vm 44")
      const failure = yield* Effect.flip(pending.initialized)
      expect(failure.message).toMatch(/^handshake failed: protocol version mismatch node: 45 vm: 44/)
    }).pipe(Effect.provide(Handshake.layer), Effect.scoped))

  it.live("with a launch secret, a caller without it is refused and does not take the handshake", () =>
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const pending = yield* handshake.listen({ protocolVersion: 45, path: "/p", secret: "s3cret" })
      const intruder = yield* callInitialize(pending.address, 45, "127.0.0.1:6666")
      expect(intruder?.code).toBe(grpc.status.PERMISSION_DENIED)
      const wrong = new grpc.Metadata()
      wrong.set(EngineEnv.LAUNCH_SECRET_HEADER, "guess")
      expect((yield* callInitialize(pending.address, 45, "127.0.0.1:6667", wrong))?.code).toBe(
        grpc.status.PERMISSION_DENIED
      )
      const right = new grpc.Metadata()
      right.set(EngineEnv.LAUNCH_SECRET_HEADER, "s3cret")
      expect(yield* callInitialize(pending.address, 45, "127.0.0.1:4242", right)).toBeUndefined()
      expect(yield* pending.initialized).toEqual({ protocolVersion: 45, vmAddr: "127.0.0.1:4242" })
    }).pipe(Effect.provide(Handshake.layer), Effect.scoped))

  it.live("our plugin SDK handshakes with a grpc-js node and serves health", () =>
    Effect.gen(function*() {
      const received: Array<InitializeRequest> = []
      const server = new grpc.Server()
      server.addService({ initialize: initializeMethod }, {
        initialize: (call: grpc.ServerUnaryCall<InitializeRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          received.push(call.request)
          callback(null, {})
        }
      })
      const port = yield* Effect.callback<number>((resume) => {
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
          if (error) throw error
          resume(Effect.succeed(port))
        })
      })
      // Launched the upstream way: only the engine address in the environment.
      const child = spawn(process.execPath, [fixturePath], {
        env: { AVALANCHE_VM_RUNTIME_ENGINE_ADDR: `127.0.0.1:${port}`, FIXTURE_MODE: "normal" },
        stdio: ["ignore", "ignore", "ignore"]
      })
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          child.kill("SIGKILL")
          server.forceShutdown()
        })
      )
      const deadline = Date.now() + 10_000
      while (received.length === 0 && Date.now() < deadline) yield* Effect.sleep("20 millis")
      expect(received).toHaveLength(1)
      const [request] = received
      expect(request?.protocolVersion).toBe(45)
      expect(request?.addr).toMatch(/^127\.0\.0\.1:\d+$/)

      const health = new grpc.Client(request!.addr, grpc.credentials.createInsecure())
      const status = yield* Effect.callback<number>((resume) => {
        health.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (m: { service: string }) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, m))),
          (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
          { service: "" },
          { deadline: Date.now() + 5_000 },
          (error, response) => {
            health.close()
            resume(error ? Effect.die(error) : Effect.succeed(response!.status))
          }
        )
      })
      expect(status).toBe(HealthCheckResponse_ServingStatus.SERVING)
      child.kill("SIGKILL")
      yield* Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
      })
      expect(isAlive(child.pid!)).toBe(false)
    }).pipe(Effect.scoped))
})
