/**
 * Where a VM's app messages go (avalanchego's `common.AppSender`, served to VMs as
 * `appsender.AppSender`): requests, responses, errors and gossip to other nodes. A node plugs
 * in its networking; the default records what was sent (a single node has no peers), and
 * every message keeps the chain it came from.
 */
import type { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Ref } from "effect"

export type AppMessage =
  | { readonly _tag: "AppRequest"; readonly chainId: Ids.Id; readonly nodeIds: ReadonlyArray<Ids.NodeId>; readonly requestId: number; readonly request: Uint8Array }
  | { readonly _tag: "AppResponse"; readonly chainId: Ids.Id; readonly nodeId: Ids.NodeId; readonly requestId: number; readonly response: Uint8Array }
  | {
    readonly _tag: "AppError"
    readonly chainId: Ids.Id
    readonly nodeId: Ids.NodeId
    readonly requestId: number
    readonly errorCode: number
    readonly errorMessage: string
  }
  | {
    readonly _tag: "AppGossip"
    readonly chainId: Ids.Id
    readonly nodeIds: ReadonlyArray<Ids.NodeId>
    readonly validators: bigint
    readonly nonValidators: bigint
    readonly peers: bigint
    readonly message: Uint8Array
  }

export interface AppNetworkShape {
  readonly send: (message: AppMessage) => Effect.Effect<void>
  /** What was sent so far (the recording implementation; others may answer empty). */
  readonly sent: Effect.Effect<ReadonlyArray<AppMessage>>
}

export class AppNetwork extends Context.Service<AppNetwork, AppNetworkShape>()("@vmre/node/AppNetwork") {
  /** Keeps every message sent, in order (at most `limit`, default 10,000: older ones are dropped). */
  static readonly layerRecording = (limit = 10_000): Layer.Layer<AppNetwork> =>
    Layer.effect(
      AppNetwork,
      Effect.map(Ref.make<ReadonlyArray<AppMessage>>([]), (log) => ({
        send: (message) => Ref.update(log, (all) => (all.length >= limit ? [...all.slice(1), message] : [...all, message])),
        sent: Ref.get(log)
      }))
    )
}
