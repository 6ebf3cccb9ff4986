/**
 * The node's view of validators (avalanchego's `validators.State`, served to VMs as
 * `validatorstate.ValidatorState`): heights, the subnet of a chain, and validator sets.
 * A node plugs in its P-chain view; the default is a configured set whose height follows
 * the chains this host runs.
 */
import { Lifecycle } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Ref, Schema, Stream } from "effect"

export interface Validator {
  readonly nodeId: Ids.NodeId
  readonly weight: bigint
  /** BLS public key, uncompressed (96 bytes), or empty. */
  readonly publicKey: Uint8Array
}

/** A question the validator view cannot answer; the text is what the Go nodes answer. */
export class ValidatorStateError extends Schema.TaggedError<ValidatorStateError>()("ValidatorStateError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

export interface ValidatorSetShape {
  readonly minimumHeight: Effect.Effect<bigint>
  readonly currentHeight: Effect.Effect<bigint>
  readonly subnetOf: (chainId: Ids.Id) => Effect.Effect<Ids.Id, ValidatorStateError>
  readonly validatorsAt: (height: bigint, subnetId: Ids.Id) => Effect.Effect<ReadonlyArray<Validator>, ValidatorStateError>
  readonly currentValidators: (subnetId: Ids.Id) => Effect.Effect<{
    readonly validators: ReadonlyArray<Validator>
    readonly height: bigint
  }, ValidatorStateError>
  /** Subnets able to sign warp messages, with their sets at `height`. */
  readonly warpSets: (height: bigint) => Effect.Effect<ReadonlyArray<{ readonly subnetId: Ids.Id; readonly validators: ReadonlyArray<Validator> }>, ValidatorStateError>
}

export interface StaticValidatorSetOptions {
  readonly validators: ReadonlyArray<Validator>
  /** Chain → subnet; chains not listed are on the primary network (all zeros). */
  readonly subnets?: ReadonlyMap<string, Ids.Id> | undefined
}

const hex = Ids.toHex

const make = (options: StaticValidatorSetOptions, height: Ref.Ref<bigint>): ValidatorSetShape => {
  const future = (requested: bigint, subnetId: Ids.Id) =>
    Effect.flatMap(Ref.get(height), (current) =>
      requested > current ?
        Effect.fail(new ValidatorStateError({
          reason: `failed to fetch validator set at unfinalized height with SubnetID = ${Ids.toString(subnetId)}: ` +
            `current P-chain height (${current}) < requested P-Chain height (${requested})`
        })) :
        Effect.void)
  return {
    minimumHeight: Ref.get(height),
    currentHeight: Ref.get(height),
    subnetOf: (chainId) => Effect.succeed(options.subnets?.get(hex(chainId)) ?? Ids.emptyId),
    validatorsAt: (requested, subnetId) => Effect.as(future(requested, subnetId), options.validators),
    currentValidators: () => Effect.map(Ref.get(height), (h) => ({ validators: options.validators, height: h })),
    warpSets: (requested) =>
      Effect.as(future(requested, Ids.emptyId), [{ subnetId: Ids.emptyId, validators: options.validators }])
  }
}

export class ValidatorSet extends Context.Service<ValidatorSet, ValidatorSetShape>()("@vmre/node/ValidatorSet") {
  /**
   * The given validators, every chain on the primary network unless `subnets` says otherwise,
   * and a current height that follows the highest block any chain of this host accepted.
   */
  static readonly layerStatic = (options: StaticValidatorSetOptions): Layer.Layer<ValidatorSet, never, Lifecycle> =>
    Layer.effect(
      ValidatorSet,
      Effect.gen(function*() {
        const height = yield* Ref.make(0n)
        yield* (yield* Lifecycle).events.pipe(
          Stream.runForEach((event) =>
            event._tag === "BlockAccepted" ? Ref.update(height, (h) => (event.height > h ? event.height : h)) : Effect.void
          ),
          Effect.forkScoped
        )
        return make(options, height)
      })
    )

  /** Fixed answers at a fixed height: for tests. */
  static readonly layerTest = (options: StaticValidatorSetOptions & { readonly height?: bigint }): Layer.Layer<ValidatorSet> =>
    Layer.effect(ValidatorSet, Effect.map(Ref.make(options.height ?? 0n), (height) => make(options, height)))
}
