/**
 * What happens to VM plugins, as a stream of events and as Effect metrics: launches,
 * handshake latency, exits by reason, restarts, and the progress of chains. Published by
 * `VmRuntime.launch`, the `Supervisor` and @vmre/node's `Chain`; subscribe with `Lifecycle.events`.
 */
import { Context, Effect, Layer, Metric, PubSub, Stream } from "effect"
import type { ProcessExit } from "./Errors.ts"

export type LifecycleEvent =
  | { readonly _tag: "Spawned"; readonly name: string; readonly path: string; readonly pid: number }
  | {
    readonly _tag: "Ready"
    readonly name: string
    readonly pid: number
    readonly vmAddr: string
    readonly protocolVersion: number
    readonly handshakeMillis: number
  }
  | { readonly _tag: "LaunchFailed"; readonly name: string; readonly path: string; readonly error: string; readonly message: string }
  /** `requested`: the exit followed a stop (scope close or `stop`), not a crash. */
  | { readonly _tag: "Exited"; readonly name: string; readonly pid: number; readonly exit: ProcessExit; readonly requested: boolean }
  | { readonly _tag: "Restarting"; readonly name: string; readonly attempt: number; readonly reason: string }
  | { readonly _tag: "GaveUp"; readonly name: string; readonly restarts: number; readonly reason: string }
  /** At a plugin's exit: the kernel enforced one of its limits (OOM kills, refused forks, throttled periods). */
  | {
    readonly _tag: "LimitHit"
    readonly name: string
    readonly pid: number
    readonly resource: "memory" | "pids" | "cpu"
    readonly count: number
  }
  // A chain (@vmre/node's Chain) on its VM: `name` is the chain's name.
  | { readonly _tag: "ChainState"; readonly name: string; readonly state: "StateSyncing" | "Bootstrapping" | "NormalOp" }
  | {
    readonly _tag: "BlockAccepted"
    readonly name: string
    readonly height: bigint
    /** CB58 block id. */
    readonly id: string
    /** From the VM's build signal to the answer of BlockAccept (0 for a block found accepted after a crash). */
    readonly millis: number
  }
  /** The chain's VM was relaunched and initialized again: it goes on from `height`. */
  | { readonly _tag: "ChainResumed"; readonly name: string; readonly height: bigint; readonly restarts: number }
  /** The chain's HTTP API (its VM's handlers) is served at these paths of the node's HTTP server, until the VM's next run. */
  | { readonly _tag: "ChainApi"; readonly name: string; readonly paths: ReadonlyArray<string> }

/** How a process ended, as a metric attribute. */
export const exitReason = (exit: ProcessExit, requested: boolean): string =>
  requested ? "stopped" : exit.signal !== null ? `signal_${exit.signal}` : exit.code === 0 ? "exit_0" : "exit_nonzero"

export const metrics = {
  launches: Metric.counter("vmre_launches_total", { description: "VM plugin launches started", incremental: true }),
  launchFailures: Metric.counter("vmre_launch_failures_total", {
    description: "VM plugin launches that failed, by error",
    incremental: true
  }),
  handshakeSeconds: Metric.histogram("vmre_handshake_duration_seconds", {
    description: "Spawn to Initialize of VM plugins",
    boundaries: Metric.exponentialBoundaries({ start: 0.005, factor: 2, count: 12 })
  }),
  exits: Metric.counter("vmre_exits_total", { description: "VM plugin process exits, by reason", incremental: true }),
  restarts: Metric.counter("vmre_restarts_total", { description: "VM plugin restarts by a supervisor", incremental: true }),
  limitHits: Metric.counter("vmre_limit_hits_total", {
    description: "Enforcements of VM plugins' resource limits, by resource (OOM kills, refused forks, throttled periods)",
    incremental: true
  })
}

export class Lifecycle extends Context.Service<Lifecycle, {
  readonly publish: (event: LifecycleEvent) => Effect.Effect<void>
  /** Events published from the moment of subscription on. */
  readonly events: Stream.Stream<LifecycleEvent>
}>()("@vmre/runtime/Lifecycle") {
  /** A sliding buffer of 1024 events per subscriber: a slow subscriber loses old events, never blocks a launch. */
  static readonly layer: Layer.Layer<Lifecycle> = Layer.effect(
    Lifecycle,
    Effect.gen(function*() {
      const pubsub = yield* PubSub.sliding<LifecycleEvent>(1024)
      yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
      return Lifecycle.of({
        publish: (event) => Effect.asVoid(PubSub.publish(pubsub, event)),
        events: Stream.fromPubSub(pubsub)
      })
    })
  )
}
