/**
 * Type-checked in the consumer project under strict flags, never run: the documented API of
 * every package, as an application and a VM author use it.
 */
import { Lifecycle, type LaunchConfig, VmRuntime } from "@vmre/runtime"
import { HttpHandlers, Id, runPlugin, type VmDefinition, VmPlugin } from "@vmre/plugin"
import { MemoryDatabase, RpcDbServer } from "@vmre/rpcdb"
import { GrpcServer } from "@vmre/transport"
import { Ids, ProtocolVersion } from "@vmre/wire"
import { VM } from "@vmre/proto/vm/vm_pb"
import { checkPlugin } from "@vmre/cli"
import { Chain, type ChainStatus, HttpGateway, NodeConfig, NodeDatabase, NodeServices, VmFactory, VmRegistry } from "@vmre/node"
import { Duration, Effect, Layer, Stream } from "effect"
import { HttpServerResponse } from "effect/http"

export const config: LaunchConfig = { path: "/opt/plugins/myvm", stopTimeout: Duration.seconds(3) }

export const followLifecycle = Layer.effectDiscard(Effect.gen(function*() {
  const lifecycle = yield* Lifecycle
  yield* lifecycle.events.pipe(Stream.runForEach((event) => Effect.log(event._tag)), Effect.forkScoped)
}))

export const launched = Effect.scoped(Effect.gen(function*() {
  const runtime = yield* VmRuntime
  const vm = yield* runtime.launch(config)
  return { pid: vm.pid, version: vm.protocolVersion }
})).pipe(Effect.provide(VmRuntime.layer))

export const database = Effect.scoped(Effect.gen(function*() {
  const store = yield* MemoryDatabase.make
  const { address } = yield* RpcDbServer.serve(store)
  return address
}))

export const defaultProtocol: number = ProtocolVersion.DEFAULT
export const emptyIdText: string = Ids.toString(Ids.emptyId)
export const vmService: string = VM.typeName
export const serve: typeof GrpcServer.serve = GrpcServer.serve
export const check: typeof checkPlugin = checkPlugin

export const makeVm = (definition: VmDefinition.VmDefinition): void => runPlugin(definition)
export const inProcess = (definition: VmDefinition.VmDefinition) => VmPlugin.layerTest(definition)
export const idOf = (bytes: Uint8Array): string => Id.toString(Id.sha256(bytes))

// The node side: a registry over a plugin directory, the factory, a chain, as layers.
export const nodeLayer = VmFactory.layer().pipe(
  Layer.provideMerge(VmRegistry.layer({ pluginDir: "/opt/plugins", aliasesFile: "/opt/aliases.json" })),
  Layer.provideMerge(NodeServices.layerSingleNode),
  Layer.provideMerge(VmRuntime.layer),
  Layer.provideMerge(NodeDatabase.layerMemory),
  Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: "/var/lib/node/chainData", flavour: "luxd" }))
)
export const runChain = Effect.scoped(Effect.gen(function*() {
  const chain = yield* Chain.run({ chainId: Ids.emptyId, vm: "myvm", untilHeight: 10n, restart: { maxRestarts: 3 } })
  const status: ChainStatus = yield* chain.done
  return status.lastAccepted
})).pipe(Effect.provide(nodeLayer))
export const accepted: ReadonlyArray<number> | undefined = ProtocolVersion.parseSet("42-45")

// HTTP both ways: a VM's API as handlers, a node serving its chains' APIs.
export const api: ReadonlyArray<HttpHandlers.HttpHandler> = [
  HttpHandlers.web("/status", () => Response.json({ ok: true })),
  HttpHandlers.httpEffect("/hello", Effect.succeed(HttpServerResponse.text("hello"))),
  HttpHandlers.node("/legacy", (_req, res) => res.end("legacy"))
]
export const nodeWithApi = nodeLayer.pipe(Layer.provideMerge(HttpGateway.layerListen({ host: "127.0.0.1", port: 9650, stream: "auto" })))
export const apiUrl = Effect.gen(function*() {
  return (yield* HttpGateway).url
})
