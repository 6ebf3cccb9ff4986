/**
 * The two ends of an {@link H2Transport} call that carry gRPC's meaning: the request's header
 * block, and a unary answer read from the raw HTTP/2 header blocks (Connect's own gRPC
 * validation for anything unusual).
 */
import type { DescMessage, DescMethodUnary } from "@bufbuild/protobuf"
import { Code, ConnectError, type UnaryResponse } from "@connectrpc/connect"
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc"
import type * as http2 from "node:http2"
import { decode, webHeaders } from "./GrpcFrames.ts"

export type HeadersInit = ConstructorParameters<typeof Headers>[0]

/** A unary call's response as received: its header blocks raw, its message still encoded. */
export interface UnaryAnswer {
  readonly head: http2.IncomingHttpHeaders
  readonly trailer: http2.IncomingHttpHeaders | undefined
  readonly message: Uint8Array | undefined
  /** More than one message came. */
  readonly extra: boolean
}

const USER_AGENT = "grpc-node-vmre"

/** A gRPC request's header block (as Connect's `requestHeader` makes it, without Web `Headers`). */
export const outgoingHeaders = (
  path: string,
  timeoutMs: number | undefined,
  header: HeadersInit | undefined
): http2.OutgoingHttpHeaders => {
  const out: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path }
  // Told apart without naming the global `Headers`: reading it loads node's fetch implementation
  // (undici, ~8 ms), which a plugin's first call (its handshake) would pay for nothing.
  if (header === undefined) {
    // No metadata.
  } else if (Array.isArray(header)) for (const [key, value] of header) out[key!.toLowerCase()] = value
  else if (Object.getPrototypeOf(header) === Object.prototype || Object.getPrototypeOf(header) === null) {
    for (const key in header) out[key.toLowerCase()] = (header as Record<string, string>)[key]
  } else (header as Headers).forEach((value, key) => (out[key] = value))
  out["content-type"] = "application/grpc+proto"
  out["user-agent"] ??= USER_AGENT
  if (timeoutMs !== undefined) out["grpc-timeout"] = `${timeoutMs}m`
  out["te"] = "trailers"
  return out
}

const PROTO_CONTENT_TYPES = new Set(["application/grpc", "application/grpc+proto"])

/**
 * The answer of a unary call, or the error it carries. The usual success (HTTP 200, a protobuf
 * gRPC content type, `grpc-status: 0` in the trailers) is read from the raw header blocks;
 * anything else goes through Connect's gRPC validation. Web `Headers` are made only if asked for.
 */
export const unaryResponse = <I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  answer: UnaryAnswer
): UnaryResponse<I, O> => {
  const { head, trailer } = answer
  let header: Headers | undefined
  let trailers: Headers | undefined
  const usual = Number(head[":status"]) === 200 && PROTO_CONTENT_TYPES.has(String(head["content-type"])) &&
    head["grpc-status"] === undefined && trailer?.["grpc-status"] === "0"
  let foundStatus = false
  if (!usual) {
    header = webHeaders(head)
    const validated = validateResponse(Number(head[":status"]), header)
    if (validated.headerError !== undefined) throw validated.headerError
    foundStatus = validated.foundStatus
  }
  // As Connect orders it: the response's header, then its messages, then its trailers.
  if (answer.extra) throw new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented)
  if (!usual) {
    trailers = foundStatus ? header! : webHeaders(trailer ?? {})
    validateTrailer(trailers, header!)
  }
  if (answer.message === undefined) throw new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented)
  return new H2UnaryResponse(method, decode(method.output, answer.message), answer, header, trailers)
}

/**
 * A class rather than an object literal with getters: V8 makes a literal's accessors anew for
 * every call (they were the client's largest self time in a unary call's own code).
 */
class H2UnaryResponse<I extends DescMessage, O extends DescMessage> implements UnaryResponse<I, O> {
  readonly stream = false as const
  readonly service: DescMethodUnary<I, O>["parent"]
  readonly method: DescMethodUnary<I, O>
  readonly message: UnaryResponse<I, O>["message"]
  readonly #answer: UnaryAnswer
  #header: Headers | undefined
  #trailer: Headers | undefined
  constructor(
    method: DescMethodUnary<I, O>,
    message: UnaryResponse<I, O>["message"],
    answer: UnaryAnswer,
    header: Headers | undefined,
    trailer: Headers | undefined
  ) {
    this.service = method.parent
    this.method = method
    this.message = message
    this.#answer = answer
    this.#header = header
    this.#trailer = trailer
  }
  get header(): Headers {
    return this.#header ??= webHeaders(this.#answer.head)
  }
  get trailer(): Headers {
    return this.#trailer ??= webHeaders(this.#answer.trailer ?? {})
  }
}
