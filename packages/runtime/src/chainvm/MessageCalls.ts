/** The peer and app-message RPCs of the client (and luxd's cross-chain messages). */
import { create } from "@bufbuild/protobuf"
import * as pb from "@vmre/proto/vm/vm_pb"
import { Effect, Result } from "effect"
import type { Ids } from "@vmre/wire"
import type { Caller } from "./Call.ts"
import { bytes, int32, sendId, sendNodeId, sendTimestamp, uint32 } from "./Codec.ts"
import type {
  AppGossip,
  AppRequest,
  AppRequestFailed,
  AppResponse,
  CrossChainAppRequest,
  CrossChainAppRequestFailed,
  CrossChainAppResponse,
  PeerVersion
} from "./Values.ts"

type NodeId = Ids.NodeId

export const messageCalls = ({ encode, invoke, raw }: Caller) => ({
  connected: Effect.fnUntraced(function*(nodeId: NodeId, version: PeerVersion) {
    const request = yield* encode(
      "Connected",
      Result.map(
        Result.all({
          nodeId: sendNodeId("node_id", nodeId),
          major: uint32("major", version.major),
          minor: uint32("minor", version.minor),
          patch: uint32("patch", version.patch)
        }),
        (fields) => create(pb.ConnectedRequestSchema, { ...fields, name: version.name })
      )
    )
    yield* invoke("Connected", (o) => raw.connected(request, o))
  }),

  disconnected: Effect.fnUntraced(function*(nodeId: NodeId) {
    const request = yield* encode("Disconnected", Result.map(sendNodeId("node_id", nodeId), (id) => ({ nodeId: id })))
    yield* invoke("Disconnected", (o) => raw.disconnected(request, o))
  }),

  appRequest: Effect.fnUntraced(function*(message: AppRequest) {
    const request = yield* encode(
      "AppRequest",
      Result.map(
        Result.all({
          nodeId: sendNodeId("node_id", message.nodeId),
          requestId: uint32("request_id", message.requestId),
          deadline: sendTimestamp("deadline", message.deadline),
          request: bytes("request", message.request)
        }),
        (fields) => create(pb.AppRequestMsgSchema, fields)
      )
    )
    yield* invoke("AppRequest", (o) => raw.appRequest(request, o))
  }),

  appRequestFailed: Effect.fnUntraced(function*(message: AppRequestFailed) {
    const request = yield* encode(
      "AppRequestFailed",
      Result.map(
        Result.all({
          nodeId: sendNodeId("node_id", message.nodeId),
          requestId: uint32("request_id", message.requestId),
          errorCode: int32("error_code", message.errorCode)
        }),
        (fields) => ({ ...fields, errorMessage: message.errorMessage })
      )
    )
    yield* invoke("AppRequestFailed", (o) => raw.appRequestFailed(request, o))
  }),

  appResponse: Effect.fnUntraced(function*(message: AppResponse) {
    const request = yield* encode(
      "AppResponse",
      Result.all({
        nodeId: sendNodeId("node_id", message.nodeId),
        requestId: uint32("request_id", message.requestId),
        response: bytes("response", message.response)
      })
    )
    yield* invoke("AppResponse", (o) => raw.appResponse(request, o))
  }),

  appGossip: Effect.fnUntraced(function*(message: AppGossip) {
    const request = yield* encode(
      "AppGossip",
      Result.all({ nodeId: sendNodeId("node_id", message.nodeId), msg: bytes("msg", message.msg) })
    )
    yield* invoke("AppGossip", (o) => raw.appGossip(request, o))
  }),

  crossChainAppRequest: Effect.fnUntraced(function*(message: CrossChainAppRequest) {
    const request = yield* encode(
      "CrossChainAppRequest",
      Result.map(
        Result.all({
          chainId: sendId("chain_id", message.chainId),
          requestId: uint32("request_id", message.requestId),
          deadline: sendTimestamp("deadline", message.deadline),
          request: bytes("request", message.request)
        }),
        (fields) => create(pb.CrossChainAppRequestMsgSchema, fields)
      )
    )
    yield* invoke("CrossChainAppRequest", (o) => raw.crossChainAppRequest(request, o))
  }),

  crossChainAppRequestFailed: Effect.fnUntraced(function*(message: CrossChainAppRequestFailed) {
    const request = yield* encode(
      "CrossChainAppRequestFailed",
      Result.map(
        Result.all({
          chainId: sendId("chain_id", message.chainId),
          requestId: uint32("request_id", message.requestId),
          errorCode: int32("error_code", message.errorCode)
        }),
        (fields) => ({ ...fields, errorMessage: message.errorMessage })
      )
    )
    yield* invoke("CrossChainAppRequestFailed", (o) => raw.crossChainAppRequestFailed(request, o))
  }),

  crossChainAppResponse: Effect.fnUntraced(function*(message: CrossChainAppResponse) {
    const request = yield* encode(
      "CrossChainAppResponse",
      Result.all({
        chainId: sendId("chain_id", message.chainId),
        requestId: uint32("request_id", message.requestId),
        response: bytes("response", message.response)
      })
    )
    yield* invoke("CrossChainAppResponse", (o) => raw.crossChainAppResponse(request, o))
  })
})
