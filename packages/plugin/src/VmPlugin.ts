/**
 * Serving a {@link VmDefinition}, the entry points for VM authors:
 *
 * - {@link runPlugin}: the whole plugin executable in one call: make the VM, serve `vm.VM`
 *   and health on `127.0.0.1:0`, complete the runtime handshake with the engine address from
 *   the environment, and keep the upstream signal behaviour (`Main.runWithLifecycle`);
 * - {@link serve}: the same inside a scope of yours (no process-level behaviour);
 * - {@link serveLocal} / {@link layerTest}: in-process, without a handshake or a
 *   subprocess, for tests and for node authors who want a VM next to their node: gives the
 *   address a gRPC client (or vmre's host client) dials.
 */
import { GrpcServer, Health } from "@vmre/transport"
import { Context, Effect, Layer, Metric, type Scope } from "effect"
import type { Block } from "./Block.ts"
import * as Main from "./Main.ts"
import * as Tracing from "./Tracing.ts"
import * as PluginHandshake from "./PluginHandshake.ts"
import type { VmDefinition } from "./VmDefinition.ts"
import * as VmServer from "./VmServer.ts"

/** Health services reported SERVING besides "". */
const healthServices = ["vm.VM"]

/** The VM server's options and the handshake's (protocol version, engine address env, timeout). */
export interface ServeOptions
  extends VmServer.VmServerOptions, Omit<PluginHandshake.RoutesOptions, "routes" | "healthServices">
{}

export interface ServingVm {
  /** The node's runtime server the handshake went to. */
  readonly engineAddr: string
  /** `127.0.0.1:PORT` of the VM server. */
  readonly address: string
  readonly server: VmServer.VmServer
}

/** Serves `vm` and completes the handshake; serves until the scope closes. */
export const serve = <B extends Block>(
  vm: VmDefinition<B>,
  options: ServeOptions = {}
): Effect.Effect<ServingVm, PluginHandshake.PluginServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* VmServer.make(vm, options)
    const serving = yield* PluginHandshake.serveRoutes({
      routes: server.routes,
      healthServices,
      ...(options.protocolVersion === undefined ? {} : { protocolVersion: options.protocolVersion }),
      ...(options.engineAddrEnvNames === undefined ? {} : { engineAddrEnvNames: options.engineAddrEnvNames }),
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.initializeTimeout === undefined ? {} : { initializeTimeout: options.initializeTimeout }),
      ...(options.compression === undefined ? {} : { compression: options.compression })
    })
    return { ...serving, server }
  })

export interface LocalVm {
  /** `127.0.0.1:PORT`: dial it as a node dials a plugin's address. */
  readonly address: string
  readonly server: VmServer.VmServer
}

/** Serves `vm` in this process (no handshake) until the scope closes. */
export const serveLocal = <B extends Block>(
  vm: VmDefinition<B>,
  options: VmServer.VmServerOptions = {}
): Effect.Effect<LocalVm, GrpcServer.ServerListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* VmServer.make(vm, options)
    const { address } = yield* GrpcServer.serve((router) => {
      server.routes(router)
      Health.register(router, healthServices)
    })
    return { address, server }
  })

/** The in-process VM server of {@link layerTest}. */
export class LocalVmServer extends Context.Service<LocalVmServer, LocalVm>()("@vmre/plugin/LocalVmServer") {}

/**
 * A layer serving `vm` in-process with its own metric registry (so that Gather reports only
 * this server's metrics). Tests get the address from the `LocalVmServer` service:
 *
 * ```ts
 * it.live("builds a block", () =>
 *   Effect.gen(function*() {
 *     const { address } = yield* VmPlugin.LocalVmServer
 *     // dial `address` with a Connect or grpc-js client of vm.VM …
 *   }).pipe(Effect.provide(VmPlugin.layerTest(myVm))))
 * ```
 */
export const layerTest = <B extends Block>(
  vm: VmDefinition<B> | Effect.Effect<VmDefinition<B>, unknown, Scope.Scope>,
  options: VmServer.VmServerOptions = {}
): Layer.Layer<LocalVmServer, unknown> =>
  Layer.effect(
    LocalVmServer,
    Effect.gen(function*() {
      const instance = Effect.isEffect(vm) ? yield* vm : vm
      return yield* serveLocal(instance, options)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  )

export interface RunPluginOptions extends ServeOptions, Main.LifecycleOptions {}

/**
 * The main of a VM plugin executable: makes the VM, serves it with the handshake, and runs
 * until the node has called Shutdown and sent SIGTERM (or the node is gone). SIGINT and
 * SIGTERM before Shutdown are ignored, as upstream.
 *
 * ```ts
 * // main.ts of a VM plugin
 * runPlugin(makeMyVm)
 * ```
 */
export const runPlugin = <B extends Block, E>(
  vm: VmDefinition<B> | Effect.Effect<VmDefinition<B>, E, Scope.Scope>,
  options: RunPluginOptions = {}
): void =>
  Main.runWithLifecycle(
    (lifecycle) =>
      Tracing.withTracingFromEnv(
        Effect.scoped(Effect.gen(function*() {
          const instance = Effect.isEffect(vm) ? yield* vm : vm
          const { server } = yield* serve(instance, options)
          lifecycle.allowStopWhen(server.isShutdownReceived)
          return yield* Effect.never
        })),
        "vmre-plugin"
      ),
    options
  )
