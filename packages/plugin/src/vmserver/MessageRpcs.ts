/**
 * Notifications from the engine (peers, app messages, luxd's cross-chain messages): ids
 * checked, then forwarded to the VM's optional handler once initialized. They run alongside
 * consensus calls, as upstream.
 */
import type { ConnectError, ServiceImpl } from "@connectrpc/connect"
import type * as pb from "@vmre/proto/vm/vm_pb"
import { Effect } from "effect"
import type { Block } from "../Block.ts"
import { deadlineOf, requireChainId, requireNodeId } from "./Codec.ts"
import type { ServerParts } from "./Parts.ts"

type MessageService = Pick<
  ServiceImpl<typeof pb.VM>,
  | "connected"
  | "disconnected"
  | "appRequest"
  | "appRequestFailed"
  | "appResponse"
  | "appGossip"
  | "crossChainAppRequest"
  | "crossChainAppRequestFailed"
  | "crossChainAppResponse"
>

export const messageRpcs = <B extends Block>({ handle, vm }: ServerParts<B>): MessageService => {
  const forward = <I>(
    method: string,
    check: (request: I) => Effect.Effect<void, ConnectError>,
    call: (request: I) => Effect.Effect<void, unknown> | undefined
  ) => handle(method, {}, (request: I) => Effect.andThen(check(request), call(request) ?? Effect.void).pipe(Effect.as({})))

  const byNode = (request: { readonly nodeId: Uint8Array }) => requireNodeId(request.nodeId)
  const byChain = (request: { readonly chainId: Uint8Array }) => requireChainId(request.chainId)

  return {
    connected: forward<pb.ConnectedRequest>("Connected", byNode, (request) =>
      vm.connected?.(request.nodeId, {
        name: request.name,
        major: request.major,
        minor: request.minor,
        patch: request.patch
      })),

    disconnected: forward<pb.DisconnectedRequest>("Disconnected", byNode, (request) => vm.disconnected?.(request.nodeId)),

    appRequest: forward<pb.AppRequestMsg>("AppRequest", byNode, (request) =>
      vm.appRequest?.({
        nodeId: request.nodeId,
        requestId: request.requestId,
        deadline: deadlineOf(request.deadline),
        request: request.request
      })),

    appRequestFailed: forward<pb.AppRequestFailedMsg>("AppRequestFailed", byNode, (request) =>
      vm.appRequestFailed?.({
        nodeId: request.nodeId,
        requestId: request.requestId,
        errorCode: request.errorCode,
        errorMessage: request.errorMessage
      })),

    appResponse: forward<pb.AppResponseMsg>("AppResponse", byNode, (request) =>
      vm.appResponse?.({ nodeId: request.nodeId, requestId: request.requestId, response: request.response })),

    appGossip: forward<pb.AppGossipMsg>("AppGossip", byNode, (request) => vm.appGossip?.({ nodeId: request.nodeId, msg: request.msg })),

    crossChainAppRequest: forward<pb.CrossChainAppRequestMsg>("CrossChainAppRequest", byChain, (request) =>
      vm.crossChainAppRequest?.({
        chainId: request.chainId,
        requestId: request.requestId,
        deadline: deadlineOf(request.deadline),
        request: request.request
      })),

    crossChainAppRequestFailed: forward<pb.CrossChainAppRequestFailedMsg>("CrossChainAppRequestFailed", byChain, (request) =>
      vm.crossChainAppRequestFailed?.({
        chainId: request.chainId,
        requestId: request.requestId,
        errorCode: request.errorCode,
        errorMessage: request.errorMessage
      })),

    crossChainAppResponse: forward<pb.CrossChainAppResponseMsg>("CrossChainAppResponse", byChain, (request) =>
      vm.crossChainAppResponse?.({ chainId: request.chainId, requestId: request.requestId, response: request.response }))
  }
}
