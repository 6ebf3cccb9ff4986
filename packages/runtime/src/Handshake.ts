/**
 * The runtime handshake, host side: a `vm.runtime.Runtime` server that waits for a plugin's
 * `Initialize{protocol_version, addr}`.
 *
 * As in avalanchego's `vms/rpcchainvm/runtime`, the gRPC server is a thin shell around an
 * {@link Initializer}: the seam where the protocol check happens and where a remote
 * implementation can be plugged in later.
 */
import { Code, ConnectError } from "@connectrpc/connect"
import { Runtime as RuntimeService } from "@vmre/proto/vm/runtime/runtime_pb"
import { GrpcServer } from "@vmre/transport"
import { EngineEnv, ProtocolVersion } from "@vmre/wire"
import { Context, Deferred, Effect, Layer, type Scope } from "effect"
import { timingSafeEqual } from "node:crypto"
import { InvalidVmAddress, ProtocolVersionMismatch, RuntimeServerFailed } from "./Errors.ts"

/** What a plugin told the node in its `Initialize` call. */
export interface InitializeResult {
  readonly protocolVersion: number
  readonly vmAddr: string
}

export type HandshakeError = ProtocolVersionMismatch | InvalidVmAddress

/**
 * Receives a plugin's `Initialize`. The first call decides the handshake; the answer to
 * the plugin is the returned effect's outcome.
 */
export interface Initializer {
  readonly initialize: (request: InitializeResult) => Effect.Effect<void, HandshakeError | HandshakeAlreadyDone>
  /** Completes with the first accepted `Initialize`, or fails with why it was refused. */
  readonly initialized: Effect.Effect<InitializeResult, HandshakeError>
}

/** Answer to every `Initialize` after the first. */
export class HandshakeAlreadyDone {
  readonly _tag = "HandshakeAlreadyDone"
  readonly message = "the handshake of this plugin is already done"
}

/** `host:port` (an IPv6 host in brackets, kept as written), or undefined; the port is not range-checked. */
export const splitHostPort = (text: string): { readonly host: string; readonly port: string } | undefined => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/]+):(\d{1,5})$/.exec(text)
  return match === null ? undefined : { host: match[1]!, port: match[2]! }
}

/**
 * Checks an address reported by a plugin: the node dials it, so it must be a loopback
 * `host:port` (anything else would let a plugin point the node at another machine).
 */
export const validateVmAddress = (addr: string): string | undefined => {
  const split = splitHostPort(addr)
  if (split === undefined) return "it is not host:port"
  const { host, port } = split
  if (Number(port) < 1 || Number(port) > 65535) return `port ${port} is out of range`
  const loopback = host === "localhost" || host === "[::1]" ||
    /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/.test(host)
  return loopback ? undefined : `${host} is not a loopback address`
}

/**
 * The first-call-wins initializer. `protocolVersion` is the version the plugin must report,
 * or the set of versions the node accepts (upstream nodes accept exactly one).
 */
export const makeInitializer = (options: {
  readonly protocolVersion: ProtocolVersion.Accepted
  readonly path: string
}): Effect.Effect<Initializer> =>
  Effect.gen(function*() {
    const result = yield* Deferred.make<InitializeResult, HandshakeError>()
    const accepted = ProtocolVersion.toSet(options.protocolVersion)
    let done = false
    const initialize = (request: InitializeResult) =>
      Effect.suspend((): Effect.Effect<void, HandshakeError | HandshakeAlreadyDone> => {
        if (done) return Effect.fail(new HandshakeAlreadyDone())
        done = true
        if (!accepted.includes(request.protocolVersion)) {
          const error = new ProtocolVersionMismatch({
            path: options.path,
            node: accepted[accepted.length - 1] ?? ProtocolVersion.DEFAULT,
            vm: request.protocolVersion,
            ...(accepted.length > 1 ? { accepted } : {})
          })
          return Deferred.fail(result, error).pipe(Effect.andThen(Effect.fail(error)))
        }
        const problem = validateVmAddress(request.vmAddr)
        if (problem !== undefined) {
          const error = new InvalidVmAddress({ path: options.path, addr: request.vmAddr, reason: problem })
          return Deferred.fail(result, error).pipe(Effect.andThen(Effect.fail(error)))
        }
        return Deferred.succeed(result, request)
      })
    return { initialize, initialized: Deferred.await(result) }
  })

// Texts sent back to the plugin. Connect percent-encodes grpc-message and grpc-js only
// undoes part of it, so these avoid `: , / = ? & + $ #`.
const answerText = (error: HandshakeError | HandshakeAlreadyDone): string => {
  switch (error._tag) {
    case "ProtocolVersionMismatch":
      return `handshake failed - protocol version mismatch - node ${
        error.accepted === undefined ? error.node : ProtocolVersion.formatSet(error.accepted).replaceAll(",", " ")
      } vm ${error.vm}`
    case "InvalidVmAddress":
      return `handshake failed - the vm address must be a loopback host and port`
    case "HandshakeAlreadyDone":
      return "handshake already done"
  }
}

/** Whether `presented` equals `secret`, in constant time. */
export const secretMatches = (secret: string, presented: string | null): boolean => {
  if (presented === null) return false
  const a = Buffer.from(secret)
  const b = Buffer.from(presented)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** A runtime server listening for one plugin's handshake. */
export interface PendingHandshake {
  /** `127.0.0.1:PORT`: what the plugin finds in its engine address env var. */
  readonly address: string
  readonly initialized: Effect.Effect<InitializeResult, HandshakeError>
  /** How many `Initialize` calls were refused for lacking this launch's secret. */
  readonly refusedSecrets: Effect.Effect<number>
}

export class Handshake extends Context.Service<Handshake, {
  /** Serves `vm.runtime.Runtime` until the scope closes. */
  readonly listen: (options: {
    /** The version the plugin must report, or the set of versions accepted. */
    readonly protocolVersion: ProtocolVersion.Accepted
    readonly path: string
    /**
     * When set, an `Initialize` without this value in the `vmre-launch-secret` header is
     * refused (PERMISSION_DENIED) and does not count as the plugin's handshake, so another
     * local process cannot take the launch over by calling first.
     */
    readonly secret?: string | undefined
    /** Where to listen (attach mode's fixed engine address); default `127.0.0.1` on a free port. */
    readonly host?: string | undefined
    readonly port?: number | undefined
  }) => Effect.Effect<PendingHandshake, RuntimeServerFailed, Scope.Scope>
}>()("@vmre/runtime/Handshake") {
  /** The Connect (gRPC over h2c) implementation on `127.0.0.1:0`. */
  static readonly layer: Layer.Layer<Handshake> = Layer.succeed(Handshake, {
    listen: Effect.fn("Handshake.listen")(function*(options) {
      const initializer = yield* makeInitializer(options)
      let refused = 0
      const server = yield* GrpcServer.serve((router) => {
        router.service(RuntimeService, {
          initialize: (request, context) =>
            options.secret !== undefined && !secretMatches(options.secret, context.requestHeader.get(EngineEnv.LAUNCH_SECRET_HEADER)) ?
              (refused++, Promise.reject(new ConnectError("this launch requires its secret", Code.PermissionDenied))) :
              Effect.runPromise(
              initializer.initialize({ protocolVersion: request.protocolVersion, vmAddr: request.addr }).pipe(
                Effect.mapError((error) =>
                  new ConnectError(
                    answerText(error),
                    error._tag === "HandshakeAlreadyDone" ? Code.FailedPrecondition : Code.Unknown
                  )
                ),
                Effect.as({})
              )
            )
        })
      }, {
        ...(options.host === undefined ? {} : { host: options.host }),
        ...(options.port === undefined ? {} : { port: options.port })
      }).pipe(Effect.mapError((error) => new RuntimeServerFailed({ reason: error.message })))
      return { address: server.address, initialized: initializer.initialized, refusedSecrets: Effect.sync(() => refused) }
    })
  })
}
