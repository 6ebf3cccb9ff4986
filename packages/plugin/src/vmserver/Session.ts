/**
 * The server's session with the node, one state at a time: new (no Initialize yet),
 * initializing, ready (the database and the scope of what the VM acquired), shut down.
 * Besides it, the Shutdown signal: received as soon as the call arrives, before the
 * consensus lock (upstream allows a stop first), and waited on by WaitForEvent.
 */
import { Code, type ConnectError } from "@connectrpc/connect"
import type { Database } from "@vmre/rpcdb"
import { Deferred, Effect, Ref, type Scope } from "effect"
import { Closed } from "../VmDefinition.ts"
import { rpcError } from "./Failures.ts"

export type SessionState =
  | { readonly _tag: "New" }
  | { readonly _tag: "Initializing" }
  | { readonly _tag: "Ready"; readonly database: Database.Database; readonly scope: Scope.Closeable }
  | { readonly _tag: "ShutDown" }

export const New: SessionState = { _tag: "New" }
export const Initializing: SessionState = { _tag: "Initializing" }
export const ShutDown: SessionState = { _tag: "ShutDown" }

export type Ready = Extract<SessionState, { readonly _tag: "Ready" }>

export interface Session {
  readonly state: Ref.Ref<SessionState>
  /** The ready session, or why calls cannot run: before Initialize, or after Shutdown (`Closed`). */
  readonly ready: Effect.Effect<Ready, ConnectError | Closed>
  /** Marks the Shutdown call as received (once) and wakes whoever waits for it. */
  readonly markShutdownReceived: Effect.Effect<void>
  readonly shutdownReceived: Effect.Effect<void>
  /** Synchronous, for signal handlers. */
  readonly isShutdownReceived: () => boolean
}

export const make = Effect.gen(function*() {
  const state = yield* Ref.make<SessionState>(New)
  const shutdown = yield* Deferred.make<void>()
  let received = false
  const session: Session = {
    state,
    ready: Effect.flatMap(Ref.get(state), (current): Effect.Effect<Ready, ConnectError | Closed> => {
      switch (current._tag) {
        case "Ready":
          return Effect.succeed(current)
        case "ShutDown":
          return Effect.fail(new Closed())
        default:
          return Effect.fail(rpcError("the vm is not initialized - call Initialize first", Code.FailedPrecondition))
      }
    }),
    markShutdownReceived: Effect.suspend(() => {
      if (received) return Effect.void
      received = true
      return Deferred.succeed(shutdown, undefined)
    }),
    shutdownReceived: Deferred.await(shutdown),
    isShutdownReceived: () => received
  }
  return session
})
