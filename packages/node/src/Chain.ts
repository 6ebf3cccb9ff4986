/**
 * Runs one chain on a VM from the {@link VmFactory}, as a single-validator consensus engine
 * does: Initialize (in the factory) → SetState(Bootstrapping) → SetState(NormalOp) → a block
 * loop driven by the VM's own signal: WaitForEvent → BuildBlock → BlockVerify →
 * SetPreference → BlockAccept. With the luxd flavour the signal is the VM's `messenger` Notify
 * (through `ChainSignals`), as luxd-built VMs push it instead of answering `WaitForEvent`.
 *
 * Beyond upstream, where a dead VM stays dead: when the VM process dies, the chain relaunches
 * it on the Supervisor's schedule, initializes it again with the same database and genesis
 * (the VM restores its state from them), and goes on from the last accepted block. A VM that
 * keeps dying gives up per the policy with `RestartsExhausted`. An engine error with the VM
 * alive (a block it built fails its own verification, an accept fails) halts the chain with
 * `ChainHalted`, as upstream stops such a chain.
 *
 * Every transition is an event on the `Lifecycle` stream and a metric.
 */
import { type Block, type ChainVmClient, Lifecycle, Supervisor, type VmInstance } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Clock, Deferred, Duration, Effect, Exit, Metric, Option, Ref, Schedule, Schema, type Scope } from "effect"
import { NodeConfig } from "./NodeConfig.ts"
import * as BlockState from "./BlockState.ts"
import { HttpGateway } from "./http/HttpGateway.ts"
import { ChainSignals } from "./services/ChainSignals.ts"
import { type ChainSpec, type CreateError, type ChainVmInstance, VmFactory } from "./VmFactory.ts"

export interface ChainOptions extends ChainSpec {
  /** Stop producing once this height is accepted (`done` then completes). Default: never. */
  readonly untilHeight?: bigint | undefined
  /** When and how often a dead VM is relaunched (the Supervisor's policy and defaults). */
  readonly restart?: Supervisor.RestartPolicy | undefined
}

export interface ChainStatus {
  readonly name: string
  readonly height: bigint
  /** CB58 id of the last accepted block. */
  readonly lastAccepted: string
  /** Blocks accepted since the chain started (this run of the node). */
  readonly blocksAccepted: number
  readonly restarts: number
}

/** An engine error with the VM alive: the chain stopped, as upstream stops such a chain. */
export class ChainHalted extends Schema.TaggedError<ChainHalted>()("ChainHalted", {
  name: Schema.String,
  height: Schema.BigInt,
  reason: Schema.String
}) {
  override get message() {
    return `chain ${this.name} halted at height ${this.height}: ${this.reason}`
  }
}

export type ChainError = ChainHalted | Supervisor.RestartsExhausted

export interface RunningChain {
  readonly status: Effect.Effect<ChainStatus>
  /** The running VM (waits while it is being relaunched). */
  readonly instance: Effect.Effect<ChainVmInstance>
  /**
   * What the node knows of the running VM's blocks ({@link BlockState}): ask it rather than the
   * VM's client, so that known blocks cost no call (waits while the VM is being relaunched).
   */
  readonly blocks: Effect.Effect<BlockState.BlockState>
  /** Completes when `untilHeight` is reached; fails when the chain halts or gives up; else never. */
  readonly done: Effect.Effect<ChainStatus, ChainError>
}

export const metrics = {
  blocksAccepted: Metric.counter("vmre_chain_blocks_accepted_total", { description: "Blocks accepted by chains", incremental: true }),
  height: Metric.gauge("vmre_chain_height", { description: "Height of a chain's last accepted block" }),
  blockSeconds: Metric.histogram("vmre_chain_block_duration_seconds", {
    description: "From a VM's build signal to the answer of BlockAccept",
    boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 14 })
  }),
  resumes: Metric.counter("vmre_chain_resumes_total", { description: "Chains resumed on a relaunched VM", incremental: true })
}

/**
 * Whether a failed call failed because the VM process is gone (a crash, to recover from). A
 * dead VM's connection may fail a call a moment before its exit is seen: wait for it, briefly.
 */
const processGone = (vm: VmInstance) =>
  vm.exit.pipe(Effect.timeoutOption(Duration.seconds(1)), Effect.map(Option.isSome))

interface CurrentRun {
  readonly instance: ChainVmInstance
  readonly blocks: BlockState.BlockState
}

/** How one run of the VM ended when it did not halt the chain. */
type RunEnd = { readonly _tag: "Reached" } | { readonly _tag: "Crashed"; readonly reason: string }

/**
 * Starts the chain and keeps it running until the scope closes. Fails if the first launch
 * fails (a configuration problem, not a crash).
 */
export const run = Effect.fn("Chain.run")(function*(
  options: ChainOptions
): Effect.fn.Return<RunningChain, CreateError | ChainError, Scope.Scope | VmFactory | Lifecycle> {
  const factory = yield* VmFactory
  // luxd's VMs push "build a block" (messenger Notify) instead of answering WaitForEvent.
  const flavour = Option.match(yield* Effect.serviceOption(NodeConfig), { onNone: () => "avalanchego", onSome: (c) => c.flavour })
  const signals = flavour === "luxd" ? Option.getOrUndefined(yield* Effect.serviceOption(ChainSignals)) : undefined
  const lifecycle = yield* Lifecycle
  const name = options.name ?? Ids.toString(options.chainId)
  const policy = options.restart ?? {}
  const minUptime = Duration.toMillis(Duration.fromInputUnsafe(policy.minUptime ?? Duration.seconds(10)))
  const maxRestarts = policy.maxRestarts ?? 5
  const schedule = policy.schedule ?? Supervisor.defaultSchedule
  const heightGauge = Metric.withAttributes(metrics.height, { chain: name })
  // With a node HTTP server, the chain's routes answer 503 until a run mounts its VM's handlers.
  const gateway = Option.getOrUndefined(yield* Effect.serviceOption(HttpGateway))
  const routes = gateway === undefined ? undefined : yield* gateway.register({ chainId: options.chainId, name })

  const status = yield* Ref.make<ChainStatus>({ name, height: 0n, lastAccepted: "", blocksAccepted: 0, restarts: 0 })
  // Settled by the first run that gets going, or by the first launch's failure (a configuration
  // problem, not a crash), or by the chain giving up before any run got going.
  const started = yield* Deferred.make<void, CreateError | ChainError>()
  const done = yield* Deferred.make<ChainStatus, ChainError>()
  // The running VM and what the node knows of its blocks (new for each run: a relaunched VM has
  // lost its undecided blocks).
  let current = yield* Deferred.make<CurrentRun>()

  const reached = (height: bigint) => options.untilHeight !== undefined && height >= options.untilHeight

  const accepted = (height: bigint, id: Ids.Id, millis: number) =>
    Effect.gen(function*() {
      const text = Ids.toString(id)
      yield* Ref.update(status, (s) => ({ ...s, height, lastAccepted: text, blocksAccepted: s.blocksAccepted + 1 }))
      yield* Metric.update(Metric.withAttributes(metrics.blocksAccepted, { chain: name }), 1)
      yield* Metric.update(heightGauge, Number(height))
      if (millis > 0) yield* Metric.update(Metric.withAttributes(metrics.blockSeconds, { chain: name }), millis / 1000)
      yield* lifecycle.publish({ _tag: "BlockAccepted", name, height, id: text, millis })
    })

  const setState = (client: ChainVmClient, state: "Bootstrapping" | "NormalOp") =>
    Effect.tap(client.setState(state), () => lifecycle.publish({ _tag: "ChainState", name, state }))

  /**
   * Brings a freshly initialized VM to where the chain is: blocks it accepted that we never
   * heard of (it died between accepting and answering) are reported, so that no height is
   * skipped; a VM behind the chain is a VM that lost state, which halts the chain.
   */
  const catchUp = (instance: ChainVmInstance, resumed: boolean) =>
    Effect.gen(function*() {
      const known = yield* Ref.get(status)
      const height = instance.lastAccepted.height
      if (!resumed) {
        yield* Ref.update(status, (s) => ({ ...s, height, lastAccepted: Ids.toString(instance.lastAccepted.id) }))
        yield* Metric.update(heightGauge, Number(height))
        return
      }
      if (height < known.height) {
        return yield* new ChainHalted({
          name,
          height: known.height,
          reason: `the relaunched VM's last accepted block is at height ${height}: it lost accepted blocks`
        })
      }
      for (let h = known.height + 1n; h <= height; h++) {
        const id = h === height ? instance.lastAccepted.id : yield* instance.client.getBlockIdAtHeight(h).pipe(
          Effect.catchTags({
            NotFound: () => Effect.fail(new ChainHalted({ name, height: h, reason: `the VM has no accepted block at height ${h}` })),
            Closed: (error) => Effect.fail(new ChainHalted({ name, height: h, reason: error.message })),
            StateSyncNotImplemented: (error) => Effect.fail(new ChainHalted({ name, height: h, reason: error.message }))
          })
        )
        yield* accepted(h, id, 0)
      }
      yield* Metric.update(metrics.resumes, 1)
      yield* lifecycle.publish({ _tag: "ChainResumed", name, height, restarts: known.restarts })
    })

  /** One block: build on the VM's signal, verify, prefer, accept. */
  const produce = (client: ChainVmClient, blocks: BlockState.BlockState, signalAt: number) =>
    Effect.gen(function*() {
      const built: Block | undefined = yield* blocks.buildBlock().pipe(
        // As upstream: a failed build waits for the next signal.
        Effect.catchTag("VmCallFailed", (error) =>
          Effect.as(Effect.logDebug(`failed building block: ${error.reason}`), undefined))
      )
      if (built === undefined) return
      yield* blocks.verify(built)
      yield* client.setPreference(built.id)
      yield* blocks.accept(built)
      yield* accepted(built.height, built.id, (yield* Clock.currentTimeMillis) - signalAt)
    })

  /** One run of the VM, from its launch to its death or to `untilHeight`. */
  const runOnce = (first: boolean) =>
    Effect.gen(function*() {
      const instance = yield* factory.create(options).pipe(
        first ? Effect.tapError((error) => Deferred.fail(started, error)) : (effect) => effect
      )
      yield* setState(instance.client, "Bootstrapping")
      yield* setState(instance.client, "NormalOp")
      yield* catchUp(instance, !first)
      if (routes !== undefined) {
        // As upstream, a VM whose handlers cannot be had still runs its chain, without an API.
        const handlers = yield* instance.client.createHandlers().pipe(
          Effect.catchTag("VmCallFailed", (error) =>
            Effect.as(Effect.logWarning(`no HTTP API for the chain: CreateHandlers failed: ${error.reason}`), []))
        )
        // avalanchego also asks for the header-routed handler (luxd has none).
        const headerRouted = flavour !== "avalanchego" ? undefined : yield* instance.client.newHttpHandler().pipe(
          Effect.map(Option.getOrUndefined),
          Effect.catchTag("VmCallFailed", (error) =>
            Effect.as(Effect.logDebug(`no header-routed HTTP handler: NewHTTPHandler failed: ${error.reason}`), undefined))
        )
        yield* lifecycle.publish({ _tag: "ChainApi", name, paths: yield* routes.mount(handlers, headerRouted) })
      }
      const blocks = BlockState.make(instance.client, instance.lastAccepted, { chain: name })
      yield* Deferred.succeed(current, { instance, blocks })
      yield* Deferred.succeed(started, undefined)
      const { client } = instance
      while (!reached((yield* Ref.get(status)).height)) {
        const event = signals === undefined ? yield* client.waitForEvent() : yield* signals.next(options.chainId).pipe(
          // A dead VM sends no more signals: notice it while waiting for one.
          Effect.raceFirst(Effect.flatMap(instance.vm.exit, () => client.health()).pipe(Effect.flatMap(() => Effect.never)))
        )
        if (event === "BuildBlock") yield* produce(client, blocks, yield* Clock.currentTimeMillis)
      }
      return { _tag: "Reached" } as RunEnd
    }).pipe(
      // A call that failed because the VM process is gone is a crash; anything else halts.
      // Decided before the run's scope closes, which stops the VM.
      Effect.catch((error) =>
        Effect.gen(function*() {
          if (error._tag === "ChainHalted") return yield* error
          const instance = Option.getOrUndefined(yield* Deferred.poll(current))
          const vm = instance === undefined ? undefined : (yield* instance).instance.vm
          if (error._tag === "VmProcessExited" || (vm !== undefined && (yield* processGone(vm)))) {
            return { _tag: "Crashed", reason: error.message } as RunEnd
          }
          // A launch that failed on a relaunch counts as one more crash.
          if (!first && instance === undefined) return { _tag: "Crashed", reason: error.message } as RunEnd
          const height = (yield* Ref.get(status)).height
          const halted = new ChainHalted({ name, height, reason: error.message })
          yield* Deferred.fail(started, first && instance === undefined ? error : halted)
          return yield* halted
        })
      ),
      Effect.scoped
    )

  const supervise = Effect.gen(function*() {
    let step = yield* Schedule.toStepWithSleep(schedule)
    let inARow = 0
    let first = true
    while (true) {
      const startedAt = yield* Clock.currentTimeMillis
      const end = yield* runOnce(first)
      first = false
      if (end._tag === "Reached") return yield* Ref.get(status)
      current = yield* Deferred.make<CurrentRun>()
      if ((yield* Clock.currentTimeMillis) - startedAt >= minUptime) {
        inARow = 0
        step = yield* Schedule.toStepWithSleep(schedule)
      }
      const scheduled = inARow < maxRestarts && Exit.isSuccess(yield* Effect.exit(step(undefined)))
      if (!scheduled) {
        yield* lifecycle.publish({ _tag: "GaveUp", name, restarts: inARow, reason: end.reason })
        return yield* new Supervisor.RestartsExhausted({ name, restarts: inARow, lastFailure: end.reason })
      }
      inARow++
      yield* Ref.update(status, (s) => ({ ...s, restarts: s.restarts + 1 }))
      yield* lifecycle.publish({ _tag: "Restarting", name, attempt: inARow, reason: end.reason })
    }
  })

  yield* supervise.pipe(
    Effect.tapError((error) => Deferred.fail(started, error)),
    Effect.exit,
    Effect.flatMap((exit) => Deferred.done(done, exit)),
    Effect.annotateLogs({ chain: name }),
    Effect.forkScoped
  )
  yield* Deferred.await(started)
  return {
    status: Ref.get(status),
    instance: Effect.suspend(() => Effect.map(Deferred.await(current), (run) => run.instance)),
    blocks: Effect.suspend(() => Effect.map(Deferred.await(current), (run) => run.blocks)),
    done: Deferred.await(done)
  } satisfies RunningChain
})
