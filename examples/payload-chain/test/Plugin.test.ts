/**
 * bin/payload-chain as a subprocess, started the upstream way: by absolute path, cwd `/`,
 * no arguments, an environment of only the engine address. Every wait is bounded and every
 * process is killed at the end of its test.
 */
import { fromBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { Id } from "@vmre/plugin"
import { InitializeRequestSchema } from "@vmre/proto/vm/runtime/runtime_pb"
import { LevelDatabase, RpcDbServer } from "@vmre/rpcdb"
import { Effect, Exit, Scope } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as MiniNode from "../src/MiniNode.ts"
import { VERSION } from "../src/PayloadChain.ts"
import { genesisBytes, isAlive, utf8, waitUntil } from "./support.ts"

const executable = fileURLToPath(new URL("../bin/payload-chain", import.meta.url))

/** A call that fails the test after 10 s instead of hanging. */
const bounded = <A>(f: () => Promise<A>) => Effect.promise(f).pipe(Effect.timeout("10 seconds"), Effect.orDie)

/** Exit of a child, or undefined after `millis`. */
const exitOf = (child: ChildProcess, millis: number) =>
  Effect.promise(() =>
    new Promise<{ code: number | null; signal: string | null } | undefined>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return resolve({ code: child.exitCode, signal: child.signalCode })
      }
      const timer = setTimeout(() => resolve(undefined), millis)
      child.once("exit", (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal })
      })
    })
  )

/** A child process killed (SIGKILL) when the scope closes, whatever happened. */
const spawnScoped = (command: string, args: ReadonlyArray<string>, options: Parameters<typeof spawn>[2]) =>
  Effect.acquireRelease(
    Effect.sync(() => spawn(command, args, options)),
    (child) =>
      Effect.gen(function*() {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        yield* exitOf(child, 5_000)
      })
  )

const collect = (child: ChildProcess) => {
  const out = { stdout: "", stderr: "" }
  child.stdout?.on("data", (chunk: Buffer) => (out.stdout += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (out.stderr += chunk.toString()))
  return out
}

/** A runtime handshake server written with @grpc/grpc-js: resolves with the plugin's address. */
const grpcJsRuntime = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: grpc.Server; address: string; handshake: Promise<{ protocolVersion: number; addr: string }> }>(
      (resolve, reject) => {
        const server = new grpc.Server()
        let onHandshake: (value: { protocolVersion: number; addr: string }) => void = () => {}
        const handshake = new Promise<{ protocolVersion: number; addr: string }>((r) => (onHandshake = r))
        server.addService({
          initialize: {
            path: "/vm.runtime.Runtime/Initialize",
            requestStream: false,
            responseStream: false,
            requestSerialize: (value: Uint8Array) => Buffer.from(value),
            requestDeserialize: (buffer: Buffer) => fromBinary(InitializeRequestSchema, buffer),
            responseSerialize: () => Buffer.alloc(0),
            responseDeserialize: () => ({})
          }
        }, {
          initialize: (
            call: grpc.ServerUnaryCall<{ protocolVersion: number; addr: string }, object>,
            callback: grpc.sendUnaryData<object>
          ) => {
            onHandshake({ protocolVersion: call.request.protocolVersion, addr: call.request.addr })
            callback(null, {})
          }
        })
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
          if (error !== null) reject(error)
          else resolve({ server, address: `127.0.0.1:${port}`, handshake })
        })
      }
    )
  ),
  ({ server }) => Effect.sync(() => server.forceShutdown())
)

describe("bin/payload-chain", () => {
  it.live("handshakes when started the upstream way; ignores SIGTERM/SIGINT until Shutdown, then exits 0", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const scope = yield* Scope.make()
      const plugin = yield* MiniNode.launch({
        executable,
        onOutput: (_stream, line) => lines.push(line),
        handshakeTimeoutMillis: 10_000
      }).pipe(Scope.provide(scope))
      try {
        expect(plugin.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
        // The script exec'd node: the pid is the VM's, its working directory is /.
        expect(readFileSync(`/proc/${plugin.pid}/cmdline`, "utf8").split("\0")[0]).toMatch(/node_modules\/node\/bin\/node$/)
        // Version (and Shutdown, below) are answered although Initialize never came.
        expect(yield* bounded(() => plugin.vm.version({}))).toMatchObject({ version: VERSION })

        // Before Shutdown, SIGTERM and SIGINT are ignored.
        process.kill(plugin.pid, "SIGTERM")
        process.kill(plugin.pid, "SIGINT")
        yield* Effect.sleep("300 millis")
        expect(plugin.exitInfo()).toBeUndefined()
        expect(isAlive(plugin.pid)).toBe(true)
        expect(lines.some((l) => l.includes("ignoring signal: SIGTERM"))).toBe(true)
        // It still serves.
        expect((yield* bounded(() => plugin.vm.version({}))).version).toBe(VERSION)

        // After Shutdown, SIGINT is still ignored, SIGTERM stops it with exit code 0.
        yield* bounded(() => plugin.vm.shutdown({}))
        process.kill(plugin.pid, "SIGINT")
        yield* Effect.sleep("100 millis")
        expect(plugin.exitInfo()).toBeUndefined()
        const started = Date.now()
        process.kill(plugin.pid, "SIGTERM")
        const exit = yield* plugin.exited.pipe(Effect.timeoutOption("5 seconds"))
        expect(exit._tag).toBe("Some")
        expect(plugin.exitInfo()).toEqual({ code: 0, signal: null })
        expect(Date.now() - started).toBeLessThan(3_000)
      } finally {
        yield* Scope.close(scope, Exit.void)
      }
      expect(isAlive(plugin.pid)).toBe(false)
    }))

  it.live("exits when its parent process dies", () =>
    Effect.gen(function*() {
      const runtime = yield* grpcJsRuntime
      // A middleman starts the plugin (the upstream way) and is then killed.
      const middleman = yield* spawnScoped(process.execPath, [
        "-e",
        `const { spawn } = require("node:child_process");
         const child = spawn(${JSON.stringify(executable)}, [], {
           cwd: "/", env: { AVALANCHE_VM_RUNTIME_ENGINE_ADDR: ${JSON.stringify(runtime.address)} }, stdio: "ignore"
         });
         console.log(String(child.pid));
         setInterval(() => {}, 1000);`
      ], { stdio: ["ignore", "pipe", "inherit"] })
      const pid = yield* Effect.promise(() =>
        new Promise<number>((resolve) => middleman.stdout!.once("data", (chunk: Buffer) => resolve(Number(String(chunk).trim()))))
      ).pipe(Effect.timeout("10 seconds"))
      yield* Effect.addFinalizer(() => Effect.sync(() => isAlive(pid) && process.kill(pid, "SIGKILL")))
      const handshake = yield* Effect.promise(() => runtime.handshake).pipe(Effect.timeout("10 seconds"))
      expect(handshake.protocolVersion).toBe(45)
      expect(isAlive(pid)).toBe(true)

      middleman.kill("SIGKILL")
      yield* exitOf(middleman, 5_000)
      // Re-parented, the plugin notices within its check interval and exits.
      expect(yield* waitUntil(() => !isAlive(pid) || readState(pid) === "Z", 5_000)).toBe(true)
    }))

  it.live("fails with a clear message without an engine address, and without the node binary", () =>
    Effect.gen(function*() {
      const noAddr = yield* spawnScoped(executable, [], { cwd: "/", env: {}, stdio: ["ignore", "pipe", "pipe"] })
      const noAddrOut = collect(noAddr)
      expect(yield* exitOf(noAddr, 10_000)).toEqual({ code: 1, signal: null })
      expect(noAddrOut.stderr).toMatch(/^required env var missing: "LUX_VM_RUNTIME_ENGINE_ADDR"/)

      // The same script in a tree without node_modules.
      const dir = mkdtempSync(join(tmpdir(), "payload-chain-bin-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      mkdirSync(join(dir, "a/b/c/bin"), { recursive: true })
      const copy = join(dir, "a/b/c/bin/payload-chain")
      copyFileSync(executable, copy)
      chmodSync(copy, 0o755)
      const result = spawnSync(copy, [], { cwd: "/", env: { VM_RUNTIME_ENGINE_ADDR: "127.0.0.1:1" }, timeout: 10_000 })
      expect(result.status).toBe(1)
      expect(String(result.stderr)).toMatch(/^payload-chain: cannot start: no Node 22 binary at .*node_modules\/node\/bin\/node/)
    }))

  it.live("keeps its chain across a restart on the same database", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "payload-chain-db-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const initRequest = (dbServerAddr: string) => ({
        networkId: 1,
        chainId: new Uint8Array(32).fill(7),
        nodeId: new Uint8Array(20).fill(1),
        genesisBytes,
        dbServerAddr
      })

      // First life: accept three blocks.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const db = yield* RpcDbServer.serve(yield* LevelDatabase.open(dir))
        const plugin = yield* MiniNode.launch({ executable })
        const vm = plugin.vm
        const init = yield* bounded(() => vm.initialize(initRequest(db.address)))
        expect(init.height).toBe(0n)
        const ids: Array<Uint8Array> = [init.lastAcceptedId]
        for (let i = 1; i <= 3; i++) {
          yield* bounded(() => vm.appGossip({ nodeId: new Uint8Array(20), msg: utf8(`payload ${i}`) }))
          const built = yield* bounded(() => vm.buildBlock({}))
          yield* bounded(() => vm.blockVerify({ bytes: built.bytes }))
          yield* bounded(() => vm.setPreference({ id: built.id }))
          yield* bounded(() => vm.blockAccept({ id: built.id }))
          ids.push(built.id)
        }
        return { ids, pid: plugin.pid }
      }))
      // The scope ran the stop sequence: Shutdown, SIGTERM; the process is gone.
      expect(isAlive(first.pid)).toBe(false)

      // Second life, same database: the same last accepted block, the same history.
      yield* Effect.scoped(Effect.gen(function*() {
        const db = yield* RpcDbServer.serve(yield* LevelDatabase.open(dir))
        const plugin = yield* MiniNode.launch({ executable })
        const vm = plugin.vm
        const init = yield* bounded(() => vm.initialize(initRequest(db.address)))
        expect(Id.toString(init.lastAcceptedId)).toBe(Id.toString(first.ids[3]!))
        expect(init.lastAcceptedParentId).toEqual(first.ids[2])
        expect(init.height).toBe(3n)
        for (let h = 0; h <= 3; h++) {
          const at = yield* bounded(() => vm.getBlockIDAtHeight({ height: BigInt(h) }))
          expect(at.blkId).toEqual(first.ids[h])
        }
        // An accepted payload is not accepted twice, a new one is.
        yield* bounded(() => vm.appGossip({ nodeId: new Uint8Array(20), msg: utf8("payload 2") }))
        yield* bounded(() => vm.appGossip({ nodeId: new Uint8Array(20), msg: utf8("payload 4") }))
        const built = yield* bounded(() => vm.buildBlock({}))
        expect(built.height).toBe(4n)
        expect(built.parentId).toEqual(first.ids[3])
        expect(new TextDecoder().decode(built.bytes)).toContain("payload 4")
        expect(new TextDecoder().decode(built.bytes)).not.toContain("payload 2")
      }))
    }))
})

/** The state letter of /proc/<pid>/stat (Z: a zombie nobody reaped yet). */
const readState = (pid: number): string | undefined => {
  try {
    return /\) (\w) /.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1]
  } catch {
    return undefined
  }
}
