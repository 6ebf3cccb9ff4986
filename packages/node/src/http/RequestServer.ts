/**
 * The node's end of one streamed HTTP request (`http.HTTP/Handle`): a gRPC server on
 * 127.0.0.1:0, for that request only, that the VM dials to write the response
 * (`http.responsewriter.Writer`) and, with avalanchego, to read the request body
 * (`io.reader.Reader`; luxd sends it inline instead, and its reader has another layout).
 *
 * Writes go straight to the client's response, waiting for it to drain, so a large response
 * is never held whole. Hijacking (websocket upgrades) is refused as a Go response writer
 * without `http.Hijacker` refuses it.
 */
import { Code, ConnectError } from "@connectrpc/connect"
import { Writer } from "@vmre/proto/http/responsewriter/responsewriter_pb"
import { ErrorCode, Reader } from "@vmre/proto/io/reader/reader_pb"
import { GrpcServer } from "@vmre/transport"
import { HttpWire } from "@vmre/wire"
import { Effect, type Scope } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { NodeFlavour } from "../NodeFlavour.ts"

/** The most one Read returns, whatever the VM asks for. */
const MAX_READ = 1024 * 1024

/** Replaces the whole response header map, as the Go response writer does on Write and WriteHeader. */
export const replaceHeaders = (res: ServerResponse, elements: ReadonlyArray<{ key: string; values: ReadonlyArray<string> }>) => {
  for (const name of res.getHeaderNames()) res.removeHeader(name)
  for (const { key, values } of elements) {
    try {
      res.setHeader(key, [...values])
    } catch {
      // An invalid header name or value from the VM is dropped rather than failing the response.
    }
  }
}

/** Reads up to `length` bytes of the request body; `undefined` at its end. */
const bodyReader = (req: IncomingMessage) => {
  let rest: Buffer | undefined
  let ended = req.readableEnded
  let failed: Error | undefined
  req.once("end", () => (ended = true))
  req.once("error", (error) => (failed = error))
  const next = (): Promise<Buffer | undefined> => {
    const chunk = req.read() as Buffer | null
    if (chunk !== null) return Promise.resolve(chunk)
    if (ended || req.readableEnded) return Promise.resolve(undefined)
    if (failed !== undefined || req.destroyed) return Promise.reject(failed ?? new Error("the client went away"))
    return new Promise((resolve, reject) => {
      const done = () => {
        req.off("readable", done)
        req.off("end", done)
        req.off("close", done)
        next().then(resolve, reject)
      }
      req.on("readable", done)
      req.on("end", done)
      req.on("close", done)
    })
  }
  return async (length: number): Promise<Buffer | undefined> => {
    const chunk = rest ?? (await next())
    rest = undefined
    if (chunk === undefined) return undefined
    if (chunk.length <= length) return chunk
    rest = chunk.subarray(length)
    return chunk.subarray(0, length)
  }
}

/** Waits until the response can take more (or is gone). */
const drained = (res: ServerResponse) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done)
      res.off("close", done)
      resolve()
    }
    res.on("drain", done)
    res.on("close", done)
  })

/** Serves the response writer (and, for avalanchego, the body reader) for one request until the scope closes; its `host:port`. */
export const serve = (
  req: IncomingMessage,
  res: ServerResponse,
  flavour: NodeFlavour
): Effect.Effect<string, GrpcServer.ServerListenError, Scope.Scope> => {
  const read = bodyReader(req)
  const gone = () => new ConnectError("the client's connection is closed", Code.Canceled)
  const startResponse = (status: number) => {
    if (!res.headersSent) res.writeHead(HttpWire.validStatus(status))
  }
  return Effect.map(
    GrpcServer.serve((router) => {
      router.service(Writer, {
        write: async ({ headers, payload }) => {
          if (res.destroyed || res.writableEnded) throw gone()
          if (!res.headersSent) {
            replaceHeaders(res, headers)
            startResponse(200)
          }
          if (payload.length > 0 && !res.write(payload)) await drained(res)
          if (res.destroyed) throw gone()
          return { written: payload.length }
        },
        writeHeader: ({ headers, statusCode }) => {
          // As Go's writer: a second WriteHeader is superfluous and ignored.
          if (!res.headersSent && !res.destroyed) {
            replaceHeaders(res, headers)
            startResponse(statusCode)
          }
          return {}
        },
        flush: () => {
          if (!res.headersSent && !res.destroyed) {
            startResponse(200)
            res.flushHeaders()
          }
          return {}
        },
        hijack: () => {
          throw new ConnectError("response writer doesn't support hijacking", Code.Unknown)
        }
      })
      if (flavour === "avalanchego") {
        router.service(Reader, {
          read: async ({ length }) => {
            try {
              const chunk = await read(Math.max(0, Math.min(length, MAX_READ)))
              return chunk === undefined ?
                { read: new Uint8Array(0), error: { errorCode: ErrorCode.EOF, message: "EOF" } } :
                { read: chunk }
            } catch (error) {
              return { read: new Uint8Array(0), error: { errorCode: ErrorCode.UNSPECIFIED, message: error instanceof Error ? error.message : String(error) } }
            }
          }
        })
      }
    }, { closeGrace: "100 millis" }),
    (server) => server.address
  )
}
