/**
 * @vmre/plugin — write a VM in TypeScript and ship it as an rpcchainvm plugin. A VM author
 * implements a {@link VmDefinition.VmDefinition} and calls {@link runPlugin} in the plugin's
 * main module; tests serve it in-process with `VmPlugin.layerTest`.
 */
export * as Block from "./Block.ts"
export * as HttpHandlers from "./HttpHandlers.ts"
export * as Id from "./Id.ts"
export * as Main from "./Main.ts"
export * as Metrics from "./Metrics.ts"
export * as NodeClients from "./NodeClients.ts"
export { NodeServiceError } from "./NodeClients.ts"
export * as PluginHandshake from "./PluginHandshake.ts"
export * as VmDefinition from "./VmDefinition.ts"
export * as VmPlugin from "./VmPlugin.ts"
export { runPlugin, type RunPluginOptions, serve, type ServeOptions, serveLocal } from "./VmPlugin.ts"
export * as VmServer from "./VmServer.ts"
