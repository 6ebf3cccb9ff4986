/**
 * The plugin side of the runtime handshake: what a VM binary does when a node starts it.
 *
 * It reads the engine address from its environment, serves its gRPC services on
 * `127.0.0.1:0`, and reports its protocol version and address to the node with
 * `vm.runtime.Runtime/Initialize` (5 s deadline), exactly as a Go plugin built for
 * avalanchego or luxd does.
 */
import { type ConnectRouter, createClient } from "@connectrpc/connect"
import { Runtime as RuntimeService } from "@vmre/proto/vm/runtime/runtime_pb"
import { GrpcClient, GrpcServer, Health } from "@vmre/transport"
import { EngineEnv, ProtocolVersion } from "@vmre/wire"
import { Duration, Effect, Schema, type Scope } from "effect"

const { ENGINE_ADDR_ENV_NAMES, LAUNCH_SECRET_ENV, LAUNCH_SECRET_HEADER } = EngineEnv

export class EngineAddressMissing extends Schema.TaggedError<EngineAddressMissing>()("EngineAddressMissing", {
  names: Schema.Array(Schema.String)
}) {
  override get message() {
    const [first = "VM_RUNTIME_ENGINE_ADDR", ...others] = this.names
    return `required env var missing: "${first}"` +
      (others.length === 0 ? "" : ` (also looked for ${others.map((n) => `"${n}"`).join(", ")})`) +
      ". This program is a VM plugin: it is started by a node (or `vmre run`), not by hand."
  }
}

export class HandshakeRefused extends Schema.TaggedError<HandshakeRefused>()("HandshakeRefused", {
  engineAddr: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `handshake with the node at ${this.engineAddr} failed: ${this.reason}`
  }
}

export class ServeFailed extends Schema.TaggedError<ServeFailed>()("ServeFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `cannot serve the vm: ${this.reason}`
  }
}

export type PluginServeError = EngineAddressMissing | HandshakeRefused | ServeFailed

export interface RoutesOptions {
  /** The services of this plugin (health is added). */
  readonly routes: (router: ConnectRouter) => void
  /** Service names reported SERVING by the health service besides "". */
  readonly healthServices?: ReadonlyArray<string>
  readonly protocolVersion?: number
  readonly engineAddrEnvNames?: ReadonlyArray<string>
  /** Defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The deadline of the Initialize call. Default 5 seconds. */
  readonly initializeTimeout?: Duration.Input
  /** `"gzip"` to compress answers for nodes that accept it; by default never, as Go plugins. */
  readonly compression?: "identity" | "gzip"
}

export interface ServingPlugin {
  readonly engineAddr: string
  /** `127.0.0.1:PORT` reported to the node. */
  readonly address: string
}

const defaultInitializeTimeout = Duration.seconds(5)

/** The engine address from the first env var that is set. */
export const engineAddress = (
  env: Readonly<Record<string, string | undefined>>,
  names: ReadonlyArray<string> = ENGINE_ADDR_ENV_NAMES
): Effect.Effect<string, EngineAddressMissing> => {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined && value !== "") return Effect.succeed(value)
  }
  return Effect.fail(new EngineAddressMissing({ names }))
}

/** Serves the plugin's services and completes the handshake; serves until the scope closes. */
export const serveRoutes = Effect.fn("PluginHandshake.serveRoutes")(function*(
  options: RoutesOptions
): Effect.fn.Return<ServingPlugin, PluginServeError, Scope.Scope> {
  const engineAddr = yield* engineAddress(options.env ?? process.env, options.engineAddrEnvNames)
  const server = yield* GrpcServer.serve((router) => {
    options.routes(router)
    Health.register(router, options.healthServices)
  }, options.compression === undefined ? {} : { compression: options.compression }).pipe(
    Effect.mapError((error) => new ServeFailed({ reason: error.message }))
  )
  const { transport } = yield* GrpcClient.transport(engineAddr)
  const runtime = createClient(RuntimeService, transport)
  // vmre hosts can require a per-launch secret; Go nodes never set it.
  const secret = (options.env ?? process.env)[LAUNCH_SECRET_ENV]
  yield* Effect.tryPromise({
    try: (signal) =>
      runtime.initialize(
        { protocolVersion: options.protocolVersion ?? ProtocolVersion.DEFAULT, addr: server.address },
        {
          timeoutMs: Duration.toMillis(options.initializeTimeout ?? defaultInitializeTimeout),
          signal,
          ...(secret === undefined ? {} : { headers: { [LAUNCH_SECRET_HEADER]: secret } })
        }
      ),
    catch: (error) => new HandshakeRefused({ engineAddr, reason: error instanceof Error ? error.message : String(error) })
  })
  return { engineAddr, address: server.address }
})
