/**
 * Whether a SIGINT/SIGTERM is the normal way to end the current command. NodeRuntime.runMain
 * turns either signal into an interruption of the main fiber; the process then exits 130,
 * except while `vmre run` has its plugin up, when a signal is how a user stops it (exit 0).
 * The entry point owns one instance and reads it in its teardown.
 */
import { Context, Effect, Layer, Ref } from "effect"

export interface SignalStopState {
  /** From now on a signal is (`true`) or is not (`false`) a normal stop. */
  readonly set: (normal: boolean) => Effect.Effect<void>
  readonly isNormalStop: Effect.Effect<boolean>
}

export class SignalStop extends Context.Service<SignalStop, SignalStopState>()("@vmre/cli/SignalStop") {
  /** A fresh instance, for an entry point that must read it after its runtime has ended. */
  static readonly make = (): SignalStopState => {
    const normal = Ref.makeUnsafe(false)
    return { set: (value) => Ref.set(normal, value), isNormalStop: Ref.get(normal) }
  }

  static readonly layer: Layer.Layer<SignalStop> = Layer.sync(SignalStop, SignalStop.make)
}
