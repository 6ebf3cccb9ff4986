/**
 * bin/payload-chain as a subprocess: launched by vmre's engine (`ChainVm.launch` of
 * @vmre/runtime: handshake, typed client, stop sequence), and started the upstream way by a
 * raw spawn with a @grpc/grpc-js runtime server (by absolute path, cwd `/`, no arguments, an
 * environment of only the engine address), as a Go node would, independently of our runtime.
 * Every wait is bounded and every process is stopped at the end of its test.
 */
import { fromBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { Id as Cb58 } from "@vmre/plugin"
import { InitializeRequestSchema } from "@vmre/proto/vm/runtime/runtime_pb"
import { Pack } from "@vmre/cli"
import { LevelDatabase, RpcDbServer } from "@vmre/rpcdb"
import { ChainVm, type Id, NodeId, VmRuntime } from "@vmre/runtime"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll } from "vitest"
import { VERSION } from "../src/PayloadChain.ts"
import { captureLogs, executable, freshBundle, initializeParams, isAlive, utf8, waitUntil } from "./support.ts"

beforeAll(freshBundle, 60_000)

/** A call that fails the test after 10 s instead of hanging. */
const bounded = <A, E, R>(call: Effect.Effect<A, E, R>) => call.pipe(Effect.timeout("10 seconds"), Effect.orDie)

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

describe("bin/payload-chain under the engine (@vmre/runtime)", () => {
  it.live("handshakes; ignores SIGTERM/SIGINT until Shutdown, then exits 0", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const scope = yield* Scope.make()
      const { client, vm } = yield* ChainVm.launch({ path: executable, handshakeTimeout: "10 seconds" }).pipe(
        Scope.provide(scope),
        Effect.provide(Layer.merge(VmRuntime.layer, logs.layer))
      )
      const pluginLines = () =>
        logs.lines.filter((l) => l.annotations.source === "plugin" && l.annotations.pid === vm.pid).map((l) => l.message)
      try {
        expect(vm.vmAddr).toMatch(/^127\.0\.0\.1:\d+$/)
        expect(vm.protocolVersion).toBe(45)
        // The script exec'd node on the start-up snapshot that `npm ci` built: the pid is the VM's.
        const argv = readFileSync(`/proc/${vm.pid}/cmdline`, "utf8").split("\0")
        expect(argv[0]).toMatch(/node_modules\/node\/bin\/node$/)
        expect(argv.slice(1, 4)).toEqual([
          ...Pack.snapshotStartFlags,
          "--snapshot-blob",
          expect.stringMatching(/\/dist\/payload-chain\.blob$/)
        ])
        // Version (and Shutdown, below) are answered although Initialize never came.
        expect(yield* bounded(client.version())).toBe(VERSION)

        // Before Shutdown, SIGTERM and SIGINT are ignored.
        process.kill(vm.pid, "SIGTERM")
        process.kill(vm.pid, "SIGINT")
        yield* Effect.sleep("300 millis")
        expect(Option.isNone(yield* vm.exitStatus)).toBe(true)
        expect(isAlive(vm.pid)).toBe(true)
        expect(yield* waitUntil(() => pluginLines().some((l) => l.includes("ignoring signal: SIGTERM")))).toBe(true)
        // It still serves.
        expect(yield* bounded(client.version())).toBe(VERSION)

        // After Shutdown, SIGINT is still ignored, SIGTERM stops it with exit code 0.
        yield* bounded(client.shutdown())
        process.kill(vm.pid, "SIGINT")
        yield* Effect.sleep("100 millis")
        expect(Option.isNone(yield* vm.exitStatus)).toBe(true)
        const started = Date.now()
        process.kill(vm.pid, "SIGTERM")
        const exit = yield* vm.exit.pipe(Effect.timeoutOption("5 seconds"))
        expect(exit).toEqual(Option.some({ code: 0, signal: null }))
        expect(Date.now() - started).toBeLessThan(3_000)
      } finally {
        yield* Scope.close(scope, Exit.void)
      }
      expect(isAlive(vm.pid)).toBe(false)
      // The stop sequence saw that the process had exited and did not call Shutdown again.
      expect(logs.lines.some((l) => l.message === "payload-chain already exited: no Shutdown call")).toBe(true)
    }))

  it.live("the engine's stop sequence (Shutdown, close, SIGTERM) ends it with exit code 0", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const vm = yield* Effect.scoped(Effect.gen(function*() {
        const { client, vm } = yield* ChainVm.launch({ path: executable })
        expect(yield* bounded(client.version())).toBe(VERSION)
        return vm
      })).pipe(Effect.provide(Layer.merge(VmRuntime.layer, logs.layer)))
      expect(yield* vm.exit).toEqual({ code: 0, signal: null })
      expect(isAlive(vm.pid)).toBe(false)
      const stderr = logs.lines.filter((l) => l.annotations.pid === vm.pid && l.annotations.stream === "stderr")
      expect(stderr.map((l) => l.message)).toContain("runtime engine: stopping: received shutdown signal SIGTERM")
    }))

  it.live("runs the start-up snapshot or the bundle while they are newer than their sources, else the sources (and says why)", () =>
    Effect.gen(function*() {
      // A tree like the repository's, with copies of src/ and bin/ (packages and node_modules
      // linked): first without dist/, then with a copy of the bundle, then with a source newer
      // than the bundle.
      const tree = mkdtempSync(join(tmpdir(), "payload-chain-tree-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(tree, { recursive: true, force: true })))
      const real = (path: string) => fileURLToPath(new URL(path, import.meta.url))
      const example = join(tree, "examples/payload-chain")
      mkdirSync(join(example, "bin"), { recursive: true })
      copyFileSync(executable, join(example, "bin/payload-chain"))
      chmodSync(join(example, "bin/payload-chain"), 0o755)
      cpSync(real("../src"), join(example, "src"), { recursive: true })
      symlinkSync(real("../../../packages"), join(tree, "packages"))
      symlinkSync(real("../../../node_modules"), join(tree, "node_modules"))
      const logs = captureLogs()
      const launchWith = (env: Record<string, string>) =>
        Effect.scoped(Effect.gen(function*() {
          const { client, vm } = yield* ChainVm.launch({ path: join(example, "bin/payload-chain"), handshakeTimeout: "30 seconds", env })
          expect(yield* bounded(client.version())).toBe(VERSION)
          // The file node runs: its last argument (flags come before it).
          return readFileSync(`/proc/${vm.pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "").at(-1)
        })).pipe(Effect.provide(Layer.merge(VmRuntime.layer, logs.layer)))
      const launch = launchWith({})

      expect(yield* launch).toBe(`${example}/bin/../src/main.ts`)

      mkdirSync(join(example, "dist"))
      for (const file of ["payload-chain.mjs", "payload-chain.sources"]) {
        copyFileSync(real(`../dist/${file}`), join(example, "dist", file))
      }
      cpSync(real("../dist/chunks"), join(example, "dist/chunks"), { recursive: true })
      expect(yield* launch).toBe(`${example}/bin/../dist/payload-chain.mjs`)

      // With the start-up snapshot: node starts from it, unless NODE_OPTIONS preloads a module
      // (a process started from a snapshot would not run it).
      copyFileSync(real("../dist/payload-chain.blob"), join(example, "dist/payload-chain.blob"))
      expect(yield* launch).toBe(`${example}/bin/../dist/payload-chain.blob`)
      const preload = join(tree, "preload.mjs")
      writeFileSync(preload, "")
      expect(yield* launchWith({ NODE_OPTIONS: `--import=${preload}` })).toBe(`${example}/bin/../dist/payload-chain.mjs`)

      const later = new Date(Date.now() + 60_000)
      utimesSync(join(example, "src/PayloadChain.ts"), later, later)
      expect(yield* launch).toBe(`${example}/bin/../src/main.ts`)
      expect(logs.lines.map((l) => l.message)).toContain(
        "payload-chain: dist/payload-chain.mjs is older than src/PayloadChain.ts: running the sources ('npm run build' makes a new bundle)"
      )
    }), 90_000)

  it.live("keeps its chain across a restart on the same database", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "payload-chain-db-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const peer = NodeId.make(new Uint8Array(20))

      // First life: accept three blocks.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const db = yield* RpcDbServer.serve(yield* LevelDatabase.open(dir))
        const { client, vm } = yield* ChainVm.launch({ path: executable })
        const init = yield* bounded(client.initialize(initializeParams(db.address)))
        expect(init.height).toBe(0n)
        const ids: Array<Id> = [init.id]
        for (let i = 1; i <= 3; i++) {
          yield* bounded(client.appGossip({ nodeId: peer, msg: utf8(`payload ${i}`) }))
          const built = yield* bounded(client.buildBlock())
          yield* bounded(client.blockVerify(built.bytes))
          yield* bounded(client.setPreference(built.id))
          yield* bounded(client.blockAccept(built.id))
          ids.push(built.id)
        }
        return { ids, vm }
      }))
      // The scope ran the stop sequence: Shutdown, SIGTERM; the process exited 0.
      expect(yield* first.vm.exit).toEqual({ code: 0, signal: null })
      expect(isAlive(first.vm.pid)).toBe(false)

      // Second life, same database: the same last accepted block, the same history.
      yield* Effect.scoped(Effect.gen(function*() {
        const db = yield* RpcDbServer.serve(yield* LevelDatabase.open(dir))
        const { client } = yield* ChainVm.launch({ path: executable })
        const init = yield* bounded(client.initialize(initializeParams(db.address)))
        expect(Cb58.toString(init.id)).toBe(Cb58.toString(first.ids[3]!))
        expect(init.parentId).toEqual(first.ids[2])
        expect(init.height).toBe(3n)
        for (let h = 0; h <= 3; h++) {
          expect(yield* bounded(client.getBlockIdAtHeight(BigInt(h)))).toEqual(first.ids[h])
        }
        // An accepted payload is not accepted twice, a new one is.
        yield* bounded(client.appGossip({ nodeId: peer, msg: utf8("payload 2") }))
        yield* bounded(client.appGossip({ nodeId: peer, msg: utf8("payload 4") }))
        const built = yield* bounded(client.buildBlock())
        expect(built.height).toBe(4n)
        expect(built.parentId).toEqual(first.ids[3])
        expect(new TextDecoder().decode(built.bytes)).toContain("payload 4")
        expect(new TextDecoder().decode(built.bytes)).not.toContain("payload 2")
      }))
    }).pipe(Effect.provide(Layer.merge(VmRuntime.layer, captureLogs().layer))))
})

describe("bin/payload-chain started the upstream way (a raw spawn, a grpc-js runtime server)", () => {
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
      expect(String(result.stderr)).toMatch(/^payload-chain: cannot start: no Node binary at .*node_modules\/node\/bin\/node/)
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
