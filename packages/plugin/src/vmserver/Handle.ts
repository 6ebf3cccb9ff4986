/**
 * One helper for every RPC: count the call, take the consensus lock if asked, check that the
 * session is ready, turn the failures the node knows by identity into the `err` enum if the
 * RPC has one, and answer every other failure as a gRPC error status.
 */
import type { HandlerContext } from "@connectrpc/connect"
import { type Context, Effect, Exit, Metric, type Semaphore } from "effect"
import { Tracing } from "@vmre/transport"
import * as Metrics from "../Metrics.ts"
import { orErrEnum, toConnectError } from "./Failures.ts"
import type { Session } from "./Session.ts"

export interface HandleOptions {
  /** Consensus calls run one at a time, in arrival order, as the Go node's chain lock runs them. */
  readonly locked?: boolean
  /** Default true: fail before Initialize and after Shutdown. */
  readonly ready?: boolean
  /** The RPC answers NotFound/Closed as `{ ...errEnum, err }` (its other fields set to these). */
  readonly errEnum?: object
}

export const make = (context: Context.Context<never>, lock: Semaphore.Semaphore, session: Session) => {
  // One attributed counter per method, made once rather than on every call.
  const counters = new Map<string, { readonly calls: Metric.Counter<number>; readonly errors: Metric.Counter<number> }>()
  const countersOf = (method: string) => {
    let found = counters.get(method)
    if (found === undefined) {
      found = {
        calls: Metric.withAttributes(Metrics.rpcCalls, { method }),
        errors: Metric.withAttributes(Metrics.rpcErrors, { method })
      }
      counters.set(method, found)
    }
    return found
  }
  const spanAttributes = { "vm.pid": process.pid }
  const runFork = Effect.runForkWith(context)
  const settle = <A>(method: string, exit: Exit.Exit<A, unknown>): A | Promise<A> => {
    if (Exit.isSuccess(exit)) return exit.value
    const error = toConnectError(exit.cause)
    return Effect.runPromiseWith(context)(Metric.update(countersOf(method).errors, 1)).then(() => {
      throw error
    })
  }
  const handle = <I, A>(
    method: string,
    options: HandleOptions,
    body: (request: I) => Effect.Effect<A, unknown>
  ) =>
  (request: I, handler: HandlerContext): A | Promise<A> => {
    const checked = options.ready === false ?
      Effect.suspend(() => body(request)) :
      Effect.andThen(session.ready, Effect.suspend(() => body(request)))
    // `{ ...errEnum, err }` is a partial answer of the same message type.
    const answered = options.errEnum === undefined ?
      checked :
      orErrEnum(checked, options.errEnum) as Effect.Effect<A, unknown>
    const locked = options.locked === true ? lock.withPermit(answered) : answered
    // A server span, the child of the node's call when it sent a traceparent.
    const traced = Tracing.server("vm.VM", method, Tracing.traceparentOf(handler), locked, spanAttributes)
    const fiber = runFork(Effect.andThen(Metric.update(countersOf(method).calls, 1), traced))
    // Most calls finish without waiting for anything: answered at once, with no promise and no
    // abort signal made for them.
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) return settle(method, exit)
    const signal = handler.signal
    if (signal.aborted) fiber.interruptUnsafe()
    else {
      const interrupt = () => fiber.interruptUnsafe()
      signal.addEventListener("abort", interrupt, { once: true })
      fiber.addObserver(() => signal.removeEventListener("abort", interrupt))
    }
    return new Promise<Exit.Exit<A, unknown>>((resolve) => fiber.addObserver(resolve)).then((exit) => settle(method, exit))
  }
  return handle
}

export type Handle = ReturnType<typeof make>
