/**
 * VmServer's own behaviour, with small stub VMs served in-process by VmPlugin.layerTest
 * (the example VM's full RPC coverage lives in examples/payload-chain/test).
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { describe, expect, it } from "@effect/vitest"
import { Error as ErrEnum, Message, StateSummaryAcceptResponse_Mode as Mode, VM } from "@vmre/proto/vm/vm_pb"
import { MemoryDatabase } from "@vmre/rpcdb"
import { timestampDate } from "@bufbuild/protobuf/wkt"
import { GrpcClient } from "@vmre/transport"
import { Context, DateTime, Deferred, Effect, Layer, Metric } from "effect"
import { type Block, Id, VmDefinition, VmPlugin } from "../src/index.ts"

// Every call is bounded: a hung answer fails the test instead of waiting for vitest.
const call = <A>(f: () => Promise<A>) => Effect.promise(f).pipe(Effect.timeout("10 seconds"), Effect.orDie)
const fails = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      (value) => {
        throw new Error(`expected a failure, got ${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`)
      },
      (error: unknown) => ConnectError.from(error)
    )
  ).pipe(Effect.timeout("10 seconds"), Effect.orDie)

const id = (n: number) => new Uint8Array(32).fill(n)

interface Recorded {
  verifiedWith: Array<bigint | undefined>
  builtWith: Array<bigint | undefined>
  accepted: Array<number>
  shutdowns: number
  waitInterrupted: boolean
}

/** A stub VM whose blocks are numbered; behaviour switches for the error paths. */
const stubVm = (recorded: Recorded, overrides: Partial<VmDefinition.VmDefinition> = {}): VmDefinition.VmDefinition => {
  const block = (n: number, extra: Partial<Block.Block> = {}): Block.Block => ({
    id: id(n),
    parentId: n === 0 ? Id.empty : id(n - 1),
    height: BigInt(n),
    timestamp: DateTime.makeUnsafe(Date.UTC(2025, 0, 1) + n * 1000),
    bytes: new Uint8Array([n]),
    verify: Effect.sync(() => recorded.verifiedWith.push(undefined)),
    verifyWithContext: (context) => Effect.sync(() => recorded.verifiedWith.push(context.pChainHeight)),
    accept: Effect.sync(() => recorded.accepted.push(n)),
    reject: Effect.void,
    ...extra
  })
  return {
    initialize: () => Effect.succeed(block(0)),
    setState: () => Effect.void,
    buildBlock: (options) =>
      Effect.sync(() => {
        recorded.builtWith.push(options.pChainHeight)
        return block(1)
      }),
    parseBlock: (bytes) => {
      switch (bytes[0]) {
        case 0xb1:
          return Effect.succeed(block(9, { id: new Uint8Array(31) }))
        case 0xb2:
          return Effect.succeed(block(9, { timestamp: new Date(Number.NaN) }))
        case 0xb3:
          return Effect.fail({ _tag: "WeirdError" })
        case 0xb4:
          return Effect.sync(() => {
            throw new Error("a thrown defect")
          })
        case 0xb5:
          return Effect.fail(new Error(""))
        default:
          return Effect.succeed(block(bytes[0] ?? 0))
      }
    },
    getBlock: (blockId) =>
      blockId[0] === 0 ? Effect.succeed(block(0)) : Effect.fail(new VmDefinition.NotFound({ subject: "block" })),
    setPreference: () => Effect.void,
    lastAccepted: Effect.succeed(id(0)),
    getBlockIdAtHeight: (height) =>
      height === 0n ? Effect.succeed(id(0)) : Effect.fail(new VmDefinition.NotFound({ subject: "height" })),
    health: Effect.succeed({ fine: true, big: 10n }),
    version: Effect.succeed("stub/1.0.0"),
    shutdown: Effect.sync(() => {
      recorded.shutdowns++
    }),
    waitForEvent: Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (recorded.waitInterrupted = true)))),
    ...overrides
  }
}

const fresh = (): Recorded => ({ verifiedWith: [], builtWith: [], accepted: [], shutdowns: 0, waitInterrupted: false })

/** A Connect client of the in-process server of `vm` (databases are in memory), for the test's scope. */
const clientOf = (vm: VmDefinition.VmDefinition) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(VmPlugin.layerTest(vm, { connectDatabase: () => MemoryDatabase.make }))
    const { address } = Context.get(context, VmPlugin.LocalVmServer)
    const { transport } = yield* GrpcClient.transport(address)
    return createClient(VM, transport)
  }).pipe(Effect.orDie)

const initialize = { dbServerAddr: "in-memory", genesisBytes: new Uint8Array([1]) }

describe("VmServer", () => {
  it.live("passes proposervm's context to build and verify", () =>
    Effect.gen(function*() {
      const recorded = fresh()
      const vm = yield* clientOf(stubVm(recorded))
      const init = yield* call(() => vm.initialize(initialize))
      expect(init.lastAcceptedId).toEqual(id(0))
      expect(timestampDate(init.timestamp!).toISOString()).toBe("2025-01-01T00:00:00.000Z")
      const built = yield* call(() => vm.buildBlock({ pChainHeight: 77n }))
      expect(built.verifyWithContext).toBe(true)
      yield* call(() => vm.buildBlock({}))
      expect(recorded.builtWith).toEqual([77n, undefined])
      yield* call(() => vm.blockVerify({ bytes: new Uint8Array([3]), pChainHeight: 42n }))
      yield* call(() => vm.blockVerify({ bytes: new Uint8Array([4]) }))
      expect(recorded.verifiedWith).toEqual([42n, undefined])
      // A verified block is found by id although the VM's getBlock does not know it.
      const got = yield* call(() => vm.getBlock({ id: id(3) }))
      expect(got.err).toBe(ErrEnum.UNSPECIFIED)
      expect(got.height).toBe(3n)
      // Verifying it again does not call the VM again.
      yield* call(() => vm.blockVerify({ bytes: new Uint8Array([3]) }))
      expect(recorded.verifiedWith).toEqual([42n, undefined])
      yield* call(() => vm.blockAccept({ id: id(3) }))
      expect(recorded.accepted).toEqual([3])
      // Decided: forgotten by the SDK, so now the VM's NotFound.
      expect((yield* call(() => vm.getBlock({ id: id(3) }))).err).toBe(ErrEnum.NOT_FOUND)
    }))

  it.live("never sends an empty or unchecked answer: bad ids, bad timestamps, errors without text", () =>
    Effect.gen(function*() {
      const vm = yield* clientOf(stubVm(fresh()))
      yield* call(() => vm.initialize(initialize))
      const shortId = yield* fails(() => vm.parseBlock({ bytes: new Uint8Array([0xb1]) }))
      expect(shortId.code).toBe(Code.Internal)
      expect(shortId.rawMessage).toBe("the vm returned a block id of 31 bytes (32 are required)")
      const badTime = yield* fails(() => vm.parseBlock({ bytes: new Uint8Array([0xb2]) }))
      expect(badTime.rawMessage).toMatch(/the timestamp is not a valid date$/)
      const tagged = yield* fails(() => vm.parseBlock({ bytes: new Uint8Array([0xb3]) }))
      expect(tagged.code).toBe(Code.Unknown)
      expect(tagged.rawMessage).toBe("WeirdError")
      const defect = yield* fails(() => vm.parseBlock({ bytes: new Uint8Array([0xb4]) }))
      expect(defect.rawMessage).toBe("a thrown defect")
      const empty = yield* fails(() => vm.parseBlock({ bytes: new Uint8Array([0xb5]) }))
      expect(empty.rawMessage).not.toBe("")
      const verifyNoContext = yield* fails(() =>
        vm.blockVerify({ bytes: new Uint8Array([0xb4]), pChainHeight: 1n })
      )
      expect(verifyNoContext.rawMessage).toBe("a thrown defect")
    }))

  it.live("a block without verifyWithContext refuses BlockVerify with a p-chain height", () =>
    Effect.gen(function*() {
      const base = stubVm(fresh())
      const vm = yield* clientOf({
        ...base,
        parseBlock: (bytes) =>
          Effect.map(base.parseBlock(bytes), (block) => {
            const { verifyWithContext: _, ...rest } = block
            return rest
          })
      })
      yield* call(() => vm.initialize(initialize))
      expect((yield* call(() => vm.parseBlock({ bytes: new Uint8Array([5]) }))).verifyWithContext).toBe(false)
      const refused = yield* fails(() => vm.blockVerify({ bytes: new Uint8Array([5]), pChainHeight: 9n }))
      expect(refused.rawMessage).toMatch(/cannot be verified with a context/)
    }))

  it.live("WaitForEvent: the VM's own wait, cancelled by the client or interrupted by Shutdown", () =>
    Effect.gen(function*() {
      const recorded = fresh()
      const vm = yield* clientOf(stubVm(recorded))
      yield* call(() => vm.initialize(initialize))
      const controller = new AbortController()
      const pending = vm.waitForEvent({}, { signal: controller.signal, timeoutMs: 10_000 }).then(() => "answered", (e) => ConnectError.from(e).code)
      yield* Effect.sleep("50 millis")
      controller.abort()
      expect(yield* call(() => pending)).toBe(Code.Canceled)
      // The server side of the call was interrupted, not left running.
      yield* Effect.sleep("50 millis")
      expect(recorded.waitInterrupted).toBe(true)

      recorded.waitInterrupted = false
      const second = vm.waitForEvent({}, { timeoutMs: 10_000 }).then(() => "answered", (e) => ConnectError.from(e).rawMessage)
      yield* Effect.sleep("50 millis")
      yield* call(() => vm.shutdown({}))
      expect(yield* call(() => second)).toBe("closed")
      expect(recorded.waitInterrupted).toBe(true)
      expect(recorded.shutdowns).toBe(1)
    }))

  it.live("the default WaitForEvent returns the VM's notifications", () =>
    Effect.gen(function*() {
      const notify = yield* Deferred.make<VmDefinition.InitializeContext["notify"]>()
      const { waitForEvent: _, ...base } = stubVm(fresh())
      const vm = yield* clientOf({
        ...base,
        initialize: (context) => Deferred.succeed(notify, context.notify).pipe(Effect.andThen(base.initialize(context)))
      })
      yield* call(() => vm.initialize(initialize))
      const send = yield* Deferred.await(notify)
      // Coalesced while nobody waits.
      yield* send("BuildBlock")
      yield* send("BuildBlock")
      expect((yield* call(() => vm.waitForEvent({}))).message).toBe(Message.BUILD_BLOCK)
      const next = vm.waitForEvent({}, { timeoutMs: 10_000 })
      yield* Effect.sleep("30 millis")
      yield* send("StateSyncFinished")
      expect((yield* call(() => next)).message).toBe(Message.STATE_SYNC_FINISHED)
      // BuildBlock consumes a pending build request.
      yield* send("BuildBlock")
      yield* call(() => vm.buildBlock({}))
      const after = yield* call(() =>
        vm.waitForEvent({}, { timeoutMs: 200 }).then(() => "answered", (e) => ConnectError.from(e).code)
      )
      expect(after).toBe(Code.DeadlineExceeded)
    }))

  it.live("state sync of a VM that has it", () =>
    Effect.gen(function*() {
      const summary = (height: bigint): VmDefinition.StateSummary => ({
        id: id(Number(height)),
        height,
        bytes: new Uint8Array([Number(height)]),
        accept: Effect.succeed("Dynamic")
      })
      const vm = yield* clientOf(stubVm(fresh(), {
        stateSync: {
          enabled: Effect.succeed(true),
          getOngoingSyncStateSummary: Effect.fail(new VmDefinition.NotFound({ subject: "ongoing summary" })),
          getLastStateSummary: Effect.succeed(summary(8n)),
          parseStateSummary: (bytes) => Effect.succeed(summary(BigInt(bytes[0] ?? 0))),
          getStateSummary: (height) => Effect.succeed(summary(height))
        }
      }))
      yield* call(() => vm.initialize(initialize))
      expect((yield* call(() => vm.stateSyncEnabled({}))).enabled).toBe(true)
      expect((yield* call(() => vm.getOngoingSyncStateSummary({}))).err).toBe(ErrEnum.NOT_FOUND)
      const last = yield* call(() => vm.getLastStateSummary({}))
      expect([last.id, last.height, last.bytes, last.err]).toEqual([id(8), 8n, new Uint8Array([8]), ErrEnum.UNSPECIFIED])
      expect((yield* call(() => vm.parseStateSummary({ bytes: new Uint8Array([5]) }))).height).toBe(5n)
      expect((yield* call(() => vm.getStateSummary({ height: 6n }))).bytes).toEqual(new Uint8Array([6]))
      expect((yield* call(() => vm.stateSummaryAccept({ bytes: new Uint8Array([5]) }))).mode).toBe(Mode.DYNAMIC)
    }))

  it.live("Health is JSON of the database's and the VM's reports; Gather has the SDK's metrics", () =>
    Effect.gen(function*() {
      const extra = Metric.counter("stub_things_total", { incremental: true })
      const vm = yield* clientOf(stubVm(fresh(), {
        setState: () => Metric.update(Metric.withAttributes(extra, { kind: "a b" }), 2)
      }))
      // Gather works before Initialize (the SDK's own counters).
      const early = (yield* call(() => vm.gather({}))).metricFamilies
      expect(early.find((f) => f.name === "vm_rpc_calls_total")?.metric.map((m) => m.label[0]?.value)).toEqual(["Gather"])
      yield* call(() => vm.initialize(initialize))
      yield* call(() => vm.setState({ state: 3 }))
      const health = JSON.parse(new TextDecoder().decode((yield* call(() => vm.health({}))).details))
      expect(health.health).toEqual({ fine: true, big: "10" })
      expect(health).toHaveProperty("database")
      const families = (yield* call(() => vm.gather({}))).metricFamilies
      const stub = families.find((f) => f.name === "stub_things_total")
      expect(stub?.metric[0]?.label).toMatchObject([{ name: "kind", value: "a b" }])
      expect(stub?.metric[0]?.counter?.value).toBe(2)
      expect((yield* call(() => vm.version({}))).version).toBe("stub/1.0.0")
    }))

  it.live("a server stopped without Shutdown still shuts the VM down", () =>
    Effect.gen(function*() {
      const recorded = fresh()
      yield* Effect.scoped(Effect.gen(function*() {
        const vm = yield* clientOf(stubVm(recorded))
        yield* call(() => vm.initialize(initialize))
      }))
      expect(recorded.shutdowns).toBe(1)
    }))

  it.live("a cancelled Initialize leaves nothing open and can be retried", () =>
    Effect.gen(function*() {
      let attempts = 0
      let opened = 0
      let closed = 0
      const base = stubVm(fresh())
      const { address } = yield* VmPlugin.serveLocal({
        ...base,
        initialize: (context) => (++attempts === 1 ? Effect.never : base.initialize(context))
      }, {
        connectDatabase: () =>
          Effect.acquireRelease(
            Effect.sync(() => opened++).pipe(Effect.andThen(MemoryDatabase.make)),
            () => Effect.sync(() => closed++)
          )
      })
      const { transport } = yield* GrpcClient.transport(address)
      const vm = createClient(VM, transport)
      const cancelled = yield* fails(() => vm.initialize(initialize, { timeoutMs: 200 }))
      expect(cancelled.code).toBe(Code.DeadlineExceeded)
      yield* Effect.sleep("50 millis")
      expect([opened, closed]).toEqual([1, 1])
      const init = yield* call(() => vm.initialize(initialize))
      expect(init.height).toBe(0n)
      expect([attempts, opened, closed]).toEqual([2, 2, 1])
    }))

  it.live("Initialize reports an unreachable database", () =>
    Effect.gen(function*() {
      const { address } = yield* VmPlugin.serveLocal(stubVm(fresh()), {
        connectDatabase: () => Effect.fail(new Error("connection refused"))
      })
      const { transport } = yield* GrpcClient.transport(address)
      const vm = createClient(VM, transport)
      const failed = yield* fails(() => vm.initialize(initialize))
      expect(failed.code).toBe(Code.Unavailable)
      expect(failed.rawMessage).toBe("cannot open the database at in-memory: connection refused")
    }))
})
