/**
 * MEASUREMENT PROTOTYPE — not for use outside bench/. A unary-only gRPC client transport and
 * server over node:http2, each a few dozen lines, with Connect's interfaces (a `Transport` for
 * `createClient`, and `ServiceImpl` handlers on the server side, the shape @vmre/plugin's
 * VmServer produces). They exist to measure the floor of a Node gRPC unary call against
 * Connect's node transport and adapter, on the same machine and in the same run.
 *
 * Deliberately missing (a real implementation needs them): keepalive pings and connection
 * verification, reconnects and connect timeouts, server-side deadlines (grpc-timeout), message
 * size limits, compression, error details (grpc-status-details-bin), response metadata,
 * graceful GOAWAY handling.
 */
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  type MessageInitShape,
  toBinary
} from "@bufbuild/protobuf"
import { Code, ConnectError, type Transport, type UnaryResponse } from "@connectrpc/connect"
import * as http2 from "node:http2"

const frame = (body: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = 0
  out.writeUInt32BE(body.length, 1)
  out.set(body, 5)
  return out
}

const unframe = (chunks: ReadonlyArray<Buffer>, size: number): Uint8Array => {
  const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
  if (data.length < 5) return new Uint8Array(0)
  return data.subarray(5, 5 + data.readUInt32BE(1))
}

/** A client transport of unary calls on one HTTP/2 session to `address` (host:port). */
export const miniTransport = (address: string): { readonly transport: Transport; readonly close: () => void } => {
  let session: http2.ClientHttp2Session | undefined
  const current = () => {
    if (session === undefined || session.closed || session.destroyed) {
      // 1 GiB of session memory: node's default (10 MB) refuses streams with ~10 MB in flight.
      session = http2.connect(`http://${address}`, { maxSessionMemory: 1024 })
      session.on("error", () => {})
    }
    return session
  }
  const unary = <I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    _header: unknown,
    input: MessageInitShape<I>
  ): Promise<UnaryResponse<I, O>> =>
    new Promise((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": `/${method.parent.typeName}/${method.name}`,
        "content-type": "application/grpc+proto",
        te: "trailers"
      }
      if (timeoutMs !== undefined) headers["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs))}m`
      const request = current().request(headers, signal === undefined ? {} : { signal })
      const chunks: Array<Buffer> = []
      let size = 0
      let status: string | undefined
      let message = ""
      const onStatus = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) {
          status = String(h["grpc-status"])
          message = String(h["grpc-message"] ?? "")
        }
      }
      request.on("response", onStatus)
      request.on("trailers", onStatus)
      request.on("data", (chunk: Buffer) => {
        chunks.push(chunk)
        size += chunk.length
      })
      request.on("error", (error) => reject(ConnectError.from(error, Code.Unavailable)))
      request.on("end", () => {
        if (status !== "0") {
          return reject(new ConnectError(decodeURIComponent(message), Number(status ?? Code.Unknown)))
        }
        resolve({
          stream: false,
          service: method.parent,
          method,
          header: new Headers(),
          trailer: new Headers(),
          message: fromBinary(method.output, unframe(chunks, size))
        } as UnaryResponse<I, O>)
      })
      request.end(frame(toBinary(method.input, create(method.input, input))))
    })
  const transport = {
    unary,
    stream: () => Promise.reject(new ConnectError("streaming is not supported", Code.Unimplemented))
  } as unknown as Transport
  return { transport, close: () => session?.close() }
}

type Handler = (request: unknown, context: { readonly signal: AbortSignal; readonly requestHeader: Headers }) => unknown

/** An HTTP/2 server of the unary methods of `service` that `impl` has (not yet listening). */
export const miniServer = (service: DescService, impl: Readonly<Record<string, Handler>>): http2.Http2Server => {
  const methods = new Map<string, { input: DescMessage; output: DescMessage; handler: Handler }>()
  for (const m of service.methods) {
    const handler = impl[m.localName]
    if (handler !== undefined) methods.set(`/${service.typeName}/${m.name}`, { input: m.input, output: m.output, handler })
  }
  const server = http2.createServer({ settings: { maxConcurrentStreams: 0xffffffff }, maxSessionMemory: 1024 })
  server.on("stream", (stream, headers) => {
    const fail = (code: number, message: string) => {
      if (stream.destroyed) return
      stream.respond(
        { ":status": 200, "content-type": "application/grpc+proto", "grpc-status": String(code), "grpc-message": encodeURIComponent(message) },
        { endStream: true }
      )
    }
    const method = methods.get(String(headers[":path"]))
    if (method === undefined) return fail(Code.Unimplemented, "unknown method")
    const chunks: Array<Buffer> = []
    let size = 0
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
    })
    stream.on("error", () => {})
    stream.on("end", async () => {
      const aborter = new AbortController()
      stream.once("close", () => {
        if (!stream.writableFinished) aborter.abort()
      })
      try {
        const request = fromBinary(method.input, unframe(chunks, size))
        const answer = await method.handler(request, { signal: aborter.signal, requestHeader: new Headers() })
        const body = frame(toBinary(method.output, create(method.output, answer as MessageInitShape<DescMessage>)))
        if (stream.destroyed) return
        stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true })
        stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }))
        stream.end(body)
      } catch (error) {
        const e = ConnectError.from(error)
        fail(e.code, e.rawMessage)
      }
    })
  })
  return server
}
