/**
 * luxd's block-building signal (`messenger.Messenger/Notify`, served at `server_addr` by luxd
 * and by avalanchego up to v1.13.2): a VM pushes "build a block" instead of answering
 * `WaitForEvent`. As there, each chain has room for one pending signal; a signal while one is
 * pending is refused with `full message queue`. The chain's engine takes them with `next`.
 */
import { Ids, type VmEnums } from "@vmre/wire"
import { Context, Deferred, Effect, Layer, Schema } from "effect"

/** The pending signal slot is taken; the text is what luxd answers. */
export class NotifyRefused extends Schema.TaggedError<NotifyRefused>()("NotifyRefused", {}) {
  override get message() {
    return "full message queue"
  }
}

type VmEvent = VmEnums.VmEvent

interface Slot {
  pending: VmEvent | undefined
  readonly waiters: Array<Deferred.Deferred<VmEvent>>
}

export class ChainSignals extends Context.Service<ChainSignals, {
  /** A VM's signal for its chain: delivered to a waiting engine, or kept (one at most). */
  readonly notify: (chainId: Ids.Id, event: VmEvent) => Effect.Effect<void, NotifyRefused>
  /** The chain's next signal (waits for it). */
  readonly next: (chainId: Ids.Id) => Effect.Effect<VmEvent>
}>()("@vmre/node/ChainSignals") {
  static readonly layer: Layer.Layer<ChainSignals> = Layer.sync(ChainSignals, () => {
    const slots = new Map<string, Slot>()
    const slotOf = (chainId: Ids.Id): Slot => {
      const key = Ids.toHex(chainId)
      let slot = slots.get(key)
      if (slot === undefined) {
        slot = { pending: undefined, waiters: [] }
        slots.set(key, slot)
      }
      return slot
    }
    return {
      notify: (chainId, event) =>
        Effect.suspend(() => {
          const slot = slotOf(chainId)
          const waiter = slot.waiters.shift()
          if (waiter !== undefined) return Deferred.succeed(waiter, event).pipe(Effect.asVoid)
          if (slot.pending !== undefined) return Effect.fail(new NotifyRefused())
          slot.pending = event
          return Effect.void
        }),
      next: (chainId) =>
        Effect.suspend(() => {
          const slot = slotOf(chainId)
          const pending = slot.pending
          if (pending !== undefined) {
            slot.pending = undefined
            return Effect.succeed(pending)
          }
          return Effect.flatMap(Deferred.make<VmEvent>(), (waiter) => {
            slot.waiters.push(waiter)
            return Deferred.await(waiter).pipe(
              Effect.onInterrupt(() => Effect.sync(() => slot.waiters.splice(slot.waiters.indexOf(waiter) >>> 0, 1)))
            )
          })
        })
    }
  })
}
