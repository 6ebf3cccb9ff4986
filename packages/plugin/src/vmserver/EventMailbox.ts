/**
 * The default `WaitForEvent`: the VM's `notify` calls, coalesced while nobody waits, handed
 * to the first waiting call otherwise.
 */
import { Effect } from "effect"
import type { VmEvent } from "../VmDefinition.ts"

export interface EventMailbox {
  readonly notify: (event: VmEvent) => Effect.Effect<void>
  /** The next event: a pending one at once, else the next `notify`. */
  readonly next: Effect.Effect<VmEvent>
  /** Drops a pending event (a BuildBlock call answers a pending "BuildBlock"). */
  readonly consume: (event: VmEvent) => void
}

export const make = (): EventMailbox => {
  const pending = new Set<VmEvent>()
  const waiters = new Set<(event: VmEvent) => void>()
  return {
    notify: (event) =>
      Effect.sync(() => {
        const [waiter] = waiters
        if (waiter === undefined) {
          pending.add(event)
        } else {
          waiters.delete(waiter)
          waiter(event)
        }
      }),
    next: Effect.callback<VmEvent>((resume) => {
      const [first] = pending
      if (first !== undefined) {
        pending.delete(first)
        resume(Effect.succeed(first))
        return
      }
      const waiter = (event: VmEvent) => resume(Effect.succeed(event))
      waiters.add(waiter)
      return Effect.sync(() => {
        waiters.delete(waiter)
      })
    }),
    consume: (event) => {
      pending.delete(event)
    }
  }
}
