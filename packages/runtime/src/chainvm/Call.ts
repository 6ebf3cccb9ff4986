/**
 * The machinery of one `vm.VM` call: the connection's readiness wait, the per-call timeout,
 * sorting a failure into "the VM answered with an error" or "no answer", the race against
 * the plugin process's exit, and turning field failures and `err` values into typed errors.
 */
import { type CallOptions, type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect"
import * as pb from "@vmre/proto/vm/vm_pb"
import { type GrpcClient, GrpcEngine, Tracing } from "@vmre/transport"
import { WireErrors } from "@vmre/wire"
import { Duration, Effect, Option, Result } from "effect"
import {
  InvalidRequest,
  InvalidResponse,
  type ProcessExit,
  VmCallFailed,
  type VmCallError,
  type VmKnownError,
  VmProcessExited,
  VmUnavailable
} from "../Errors.ts"
import type { VmProcessHandle } from "../VmProcess.ts"
import type { Field } from "./Codec.ts"
import type { RpcName } from "./Values.ts"

export type KeepaliveOptions = GrpcClient.KeepaliveOptions

export interface ClientOptions {
  /** Bound on every call without its own entry in `timeouts` (default 30 s). */
  readonly callTimeout?: Duration.Input | undefined
  /**
   * Per-RPC bounds; `"Infinity"` for none. Defaults: Initialize and SetState 5 minutes,
   * Shutdown 5 s, WaitForEvent none (a long poll), everything else `callTimeout`.
   */
  readonly timeouts?: Partial<Record<RpcName, Duration.Input>> | undefined
  readonly keepalive?: KeepaliveOptions | undefined
  /** Bound on one attempt to open the connection (default 5 s); calls retry until their timeout. */
  readonly connectTimeout?: Duration.Input | undefined
  /**
   * After a call lost its connection, how long to wait for the process to be seen exiting
   * so that the call reports `VmProcessExited` rather than `VmUnavailable` (default 250 ms).
   */
  readonly exitGrace?: Duration.Input | undefined
  /** `"gzip"` to compress requests and accept compressed answers; by default neither, as the Go nodes. */
  readonly compression?: "identity" | "gzip" | undefined
  /**
   * A VM address that has refused every connection for this long fails calls at once with
   * `VmUnavailable` (connection refused) instead of waiting for their timeout (default 1 s).
   * Once a connection was up, a refused reconnection is waited on, as gRPC does.
   */
  readonly refusedGrace?: Duration.Input | undefined
  /**
   * The gRPC engine under the client: `"h2"`, vmre's engine on bare node:http2
   * (`@vmre/transport` `H2Transport`), or `"connect"`, Connect's transport (the reference and
   * fallback). Default from `VMRE_GRPC_ENGINE`, else `"h2"`; gzip always uses Connect's.
   */
  readonly engine?: GrpcEngine.Kind | undefined
}

/** What a client is made of. */
export interface ClientParts {
  readonly transport: Transport
  readonly options: ClientOptions
  /**
   * Waits until the connection is up (absent: no waiting); fails with the reason when waiting
   * is pointless (the address refuses connections and never accepted one).
   */
  readonly ready: Effect.Effect<void, string> | undefined
  /**
   * Whether the connection is up now, asked before `ready`: a call on a live connection then
   * waits for nothing (no race of the wait against the call's timeout, which forks two fibers
   * and a timer).
   */
  readonly readyNow?: (() => boolean) | undefined
  /** Why the last connection attempt failed, if it did: said when a call times out waiting. */
  readonly lastConnectError?: (() => string | undefined) | undefined
  /**
   * The plugin process serving the VM, and a signal its owner aborts when it exits: a call in
   * flight is aborted with it (cheaper than racing every call against the exit with fibers of
   * its own), and a call that lost its connection is told apart from a dead process.
   */
  readonly process: { readonly handle: VmProcessHandle; readonly exited: AbortSignal } | undefined
  readonly isClosed: () => boolean
}

/** A call's result: the VM's answer or why there is none. */
export type Call<A, E = never> = Effect.Effect<A, VmCallError | E>

const DEFAULT_CALL_TIMEOUT = Duration.seconds(30)
const DEFAULT_TIMEOUTS: Partial<Record<RpcName, Duration.Duration>> = {
  Initialize: Duration.minutes(5),
  SetState: Duration.minutes(5),
  Shutdown: Duration.seconds(5),
  WaitForEvent: Duration.infinity
}

const codeName = (code: Code): string => Code[code] ?? `Code(${code})`

/** Sorts a failed call: an answer of the VM (`VmCallFailed`) or no answer (`VmUnavailable`). */
export const classify = (method: RpcName, error: unknown): VmUnavailable | VmCallFailed => {
  const connectError = ConnectError.from(error)
  const code = codeName(connectError.code)
  const reason = connectError.rawMessage
  // Only an error status sent by the VM is the VM's own error; anything raised on this side
  // (connection refused or reset, stream aborted, deadline) means there was no answer.
  // Unimplemented is an answer too, also when it comes as HTTP 404 (as Connect servers send it for
  // a method they do not serve) rather than as a gRPC status.
  const answered = (connectError.isWireError &&
    connectError.code !== Code.Unavailable &&
    connectError.code !== Code.DeadlineExceeded) || connectError.code === Code.Unimplemented
  return answered ? new VmCallFailed({ method, code, reason }) : new VmUnavailable({ method, code, reason })
}

/** The helpers every RPC of a client uses. */
export interface Caller {
  readonly raw: Client<typeof pb.VM>
  /** One call: readiness, timeout, error sorting, and the race against the process's exit. */
  readonly invoke: <A>(
    method: RpcName,
    send: (options: CallOptions) => Promise<A>,
    waitForReady?: boolean
  ) => Effect.Effect<A, VmCallError>
  /** A request that cannot be encoded fails the call before anything is sent. */
  readonly encode: <A>(method: RpcName, request: Field<A>) => Effect.Effect<A, InvalidRequest>
  /** An answer that breaks the protocol. */
  readonly decode: <A>(method: RpcName, answer: Field<A>) => Effect.Effect<A, InvalidResponse>
  /** The `err` field of an answer; `ERROR_UNSPECIFIED` is no error. */
  readonly known: (method: RpcName, err: pb.Error, subject?: string) => Effect.Effect<void, VmKnownError | InvalidResponse>
}

export const makeCaller = (parts: ClientParts): Caller => {
  const process = parts.process?.handle
  const exitedSignal = parts.process?.exited
  // The calls in flight, aborted together when the process exits: one set per client instead of
  // a signal joined per call (AbortSignal.any is costly on the hot path).
  const inFlight = new Set<AbortController>()
  exitedSignal?.addEventListener("abort", () => {
    for (const controller of inFlight) controller.abort(exitedSignal.reason)
  }, { once: true })
  const raw: Client<typeof pb.VM> = createClient(pb.VM, parts.transport)
  const defaultTimeout = parts.options.callTimeout === undefined ?
    DEFAULT_CALL_TIMEOUT :
    Duration.fromInputUnsafe(parts.options.callTimeout)
  const timeoutOf = (method: RpcName): Duration.Duration => {
    const configured = parts.options.timeouts?.[method]
    return configured !== undefined ?
      Duration.fromInputUnsafe(configured) :
      DEFAULT_TIMEOUTS[method] ?? defaultTimeout
  }
  const exitGrace = parts.options.exitGrace === undefined ?
    Duration.millis(250) :
    Duration.fromInputUnsafe(parts.options.exitGrace)

  const exited = (method: RpcName, view: VmProcessHandle, exit: ProcessExit) =>
    Effect.gen(function*() {
      // The last stderr lines are still in the pipe: read it to its end first (bounded).
      yield* view.drained(Duration.millis(500))
      return yield* new VmProcessExited({
        method,
        pid: view.pid,
        exitCode: exit.code,
        signal: exit.signal,
        stderrTail: yield* view.stderrTail
      })
    })

  // Each call is a client span; its traceparent goes to the VM, whose handling (and calls back
  // into this host) nest under it.
  const spanAttributes = process === undefined ? {} : { "vm.pid": process.pid }
  const invoke = <A>(
    method: RpcName,
    send: (options: CallOptions) => Promise<A>,
    waitForReady = true
  ): Effect.Effect<A, VmCallError> =>
    Tracing.client("vm.VM", method, (headers) => invokeWith(method, (options) => send({ ...options, headers }), waitForReady), spanAttributes)

  const invokeWith = <A>(
    method: RpcName,
    send: (options: CallOptions) => Promise<A>,
    waitForReady: boolean
  ): Effect.Effect<A, VmCallError> =>
    Effect.suspend((): Effect.Effect<A, VmCallError> => {
      if (parts.isClosed()) {
        return Effect.fail(new VmUnavailable({ method, code: "Canceled", reason: "the client is closed" }))
      }
      const timeout = timeoutOf(method)
      const deadline = Duration.isFinite(timeout) ? Date.now() + Duration.toMillis(timeout) : undefined
      const call = Effect.callback<A, VmUnavailable | VmCallFailed>((resume) => {
        const controller = new AbortController()
        const signal = controller.signal
        inFlight.add(controller)
        const settled = () => inFlight.delete(controller)
        send(deadline === undefined ? { signal } : { signal, timeoutMs: Math.max(1, deadline - Date.now()) }).then(
          (answer) => {
            settled()
            resume(Effect.succeed(answer))
          },
          (error) => {
            settled()
            resume(Effect.fail(classify(method, error)))
          }
        )
        // Interrupted: the call is cancelled (RST_STREAM), as with Connect's signal.
        return Effect.sync(() => {
          settled()
          controller.abort()
        })
      })
      // The wait for a connection counts against the call's timeout; the call itself is bounded
      // by Connect's own deadline (timeoutMs), which also tells the VM (grpc-timeout).
      const mustWait = waitForReady && parts.ready !== undefined && parts.readyNow?.() !== true
      const timed: Effect.Effect<A, VmUnavailable | VmCallFailed> = mustWait ?
        Effect.andThen(waitForConnection(method, timeout), call) :
        call
      if (process === undefined) return timed
      // A lost connection is usually the process dying: say so if it is.
      const guarded = Effect.catchTag(timed, "VmUnavailable", (error) => lostConnection(method, process, error))
      // The exit aborts the call through its signal (then sorted above as VmProcessExited).
      return Effect.flatMap(process.exitStatus, (status) => Option.isSome(status) ? exited(method, process, status.value) : guarded)
    })

  const waitForConnection = (method: RpcName, timeout: Duration.Duration): Effect.Effect<void, VmUnavailable> => {
    const ready = parts.ready!.pipe(
      Effect.mapError((reason) => new VmUnavailable({ method, code: "Unavailable", reason }))
    )
    if (!Duration.isFinite(timeout)) return ready
    return ready.pipe(Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => {
        const cause = parts.lastConnectError?.()
        return Effect.fail(
          new VmUnavailable({
            method,
            code: "DeadlineExceeded",
            reason: `no answer within ${Duration.format(timeout)}` +
              (cause === undefined ? "" : `; the last connection attempt failed: ${cause}`)
          })
        )
      }
    }))
  }

  const lostConnection = (
    method: RpcName,
    view: VmProcessHandle,
    error: VmUnavailable
  ): Effect.Effect<never, VmUnavailable | VmProcessExited> =>
    Effect.flatMap(
      Effect.timeoutOption(view.exit, exitGrace),
      (exit): Effect.Effect<never, VmUnavailable | VmProcessExited> => Option.isSome(exit) ? exited(method, view, exit.value) : Effect.fail(error)
    )

  const encode = <A>(method: RpcName, request: Field<A>): Effect.Effect<A, InvalidRequest> =>
    Result.isSuccess(request) ?
      Effect.succeed(request.success) :
      Effect.fail(new InvalidRequest({ method, reason: request.failure }))

  const decode = <A>(method: RpcName, answer: Field<A>): Effect.Effect<A, InvalidResponse> =>
    Result.isSuccess(answer) ?
      Effect.succeed(answer.success) :
      Effect.fail(new InvalidResponse({ method, reason: answer.failure }))

  const known = (method: RpcName, err: pb.Error, subject = ""): Effect.Effect<void, VmKnownError | InvalidResponse> => {
    const result = WireErrors.fromVmErr(err, method, subject)
    if (Result.isSuccess(result)) return Effect.void
    const failure = result.failure
    return typeof failure === "number" ?
      Effect.fail(new InvalidResponse({ method, reason: `unknown err value ${failure}` })) :
      Effect.fail(failure)
  }

  return { raw, invoke, encode, decode, known }
}
