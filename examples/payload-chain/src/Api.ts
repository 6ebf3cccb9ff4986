/**
 * payload-chain's HTTP API, written as effect HTTP apps and served by the SDK over gRPC; a
 * node (vmre's or a Go node) serves it at `/ext/bc/<chain>/status` and `/ext/bc/<chain>/rpc`.
 *
 * - `GET …/status`: the chain's status as JSON (the health report: last accepted block and
 *   height, preferred block, processing blocks, mempool size, latest warp signature).
 * - `POST …/rpc`: JSON-RPC 2.0 with two methods:
 *   `payload.submit {"payload": "<text>"}` → `{"payloadId": "<CB58>"}` (the payload is
 *   in the mempool and will be in a block), and `payload.status` → the status above.
 */
import { HttpHandlers, Id } from "@vmre/plugin"
import { Effect } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Codec from "./Codec.ts"
import type { PayloadChainVm } from "./PayloadChain.ts"

/** JSON-RPC 2.0 error codes: the standard ones, and -32000 for a payload the chain refuses. */
export const RpcErrorCode = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  refused: -32000
} as const

type RpcId = string | number | null

const rpcResult = (id: RpcId, result: unknown) => HttpServerResponse.jsonUnsafe({ jsonrpc: "2.0", id, result })
const rpcError = (id: RpcId, code: number, message: string) =>
  HttpServerResponse.jsonUnsafe({ jsonrpc: "2.0", id, error: { code, message } })

const status = (vm: PayloadChainVm) => Effect.catch(vm.health, (error) => Effect.succeed({ error: String(error) }))

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const rpc = (vm: PayloadChainVm) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method !== "POST") {
      return HttpServerResponse.text("JSON-RPC takes POST\n", { status: 405, headers: { allow: "POST" } })
    }
    const text = yield* Effect.orElseSucceed(request.text, () => "")
    let call: unknown
    try {
      call = JSON.parse(text)
    } catch {
      return rpcError(null, RpcErrorCode.parse, "parse error: the body is not JSON")
    }
    if (!isObject(call) || call.jsonrpc !== "2.0" || typeof call.method !== "string") {
      return rpcError(null, RpcErrorCode.invalidRequest, "invalid request: a JSON-RPC 2.0 object with a method is required")
    }
    const id: RpcId = typeof call.id === "string" || typeof call.id === "number" ? call.id : null
    switch (call.method) {
      case "payload.submit": {
        const params = call.params
        if (!isObject(params) || typeof params.payload !== "string") {
          return rpcError(id, RpcErrorCode.invalidParams, "invalid params: {\"payload\": \"<text>\"} is required")
        }
        const payload = new TextEncoder().encode(params.payload)
        return yield* vm.submit(payload).pipe(
          Effect.as(rpcResult(id, { payloadId: Id.toString(Codec.payloadId(payload)) })),
          Effect.catch((error) => Effect.succeed(rpcError(id, RpcErrorCode.refused, error.message)))
        )
      }
      case "payload.status":
        return rpcResult(id, yield* status(vm))
      default:
        return rpcError(id, RpcErrorCode.methodNotFound, `method not found: ${call.method} (payload.submit, payload.status)`)
    }
  })

/** The handlers `createHandlers` returns. */
export const handlers = (vm: PayloadChainVm): ReadonlyArray<HttpHandlers.HttpHandler> => [
  HttpHandlers.httpEffect("/status", Effect.map(status(vm), (report) => HttpServerResponse.jsonUnsafe(report))),
  HttpHandlers.httpEffect("/rpc", rpc(vm))
]
