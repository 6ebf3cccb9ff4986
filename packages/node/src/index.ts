/**
 * @vmre/node — the node side of vmre, as Effect services an embedding node composes:
 *
 * - {@link VmRegistry}: registers the plugins of a plugin directory by VM ID (probe: launch,
 *   handshake, `Version`, stop), logging failures as the Go nodes do (`failed to register VM`);
 * - {@link VmFactory}: starts a chain's VM in its own process and initializes it for the chain,
 *   with a prefixed view of the {@link NodeDatabase} served over rpcdb;
 * - {@link Chain}: runs a chain on it, relaunching a VM that dies and resuming from the last
 *   accepted block;
 * - the node services a VM calls back at `server_addr`, each an Effect service a node provides:
 *   {@link ChainAliases}, {@link ValidatorSet}, {@link WarpSigner}, {@link AppNetwork}
 *   (`NodeServices.layerSingleNode` gives all of them for one node).
 */
export * as BlockState from "./BlockState.ts"
export type { BlockStateOptions, BlockStateStats } from "./BlockState.ts"
export * as Bootstrap from "./Bootstrap.ts"
export { BootstrapFailed, type BootstrapOptions, type BootstrapResult, type BootstrapSource } from "./Bootstrap.ts"
export * as Chain from "./Chain.ts"
export { ChainHalted, type ChainError, type ChainOptions, type ChainStatus, type RunningChain } from "./Chain.ts"
export { InvalidVmAliases, PluginDirectoryInvalid, VmNotRegistered } from "./Errors.ts"
export { devNodeId, formatNodeId, LOCAL_NETWORK_ID, NodeConfig, type NodeConfigShape, parseNodeId } from "./NodeConfig.ts"
export { NodeDatabase } from "./NodeDatabase.ts"
export * as NodeFlavour from "./NodeFlavour.ts"
export * as PluginDirectory from "./PluginDirectory.ts"
export type { PluginFile, SkippedFile } from "./PluginDirectory.ts"
export * as PrefixDatabase from "./PrefixDatabase.ts"
export {
  ChainDataDirFailed,
  type ChainSpec,
  type ChainVmInstance,
  type CreateError,
  VmFactory,
  type VmFactoryOptions
} from "./VmFactory.ts"
export {
  type DirectoryError,
  type FailedVm,
  type RegisteredVm,
  type RegistryChange,
  type RegistryReport,
  VmRegistry,
  type VmRegistryOptions
} from "./VmRegistry.ts"
export { type AppEndpoint, AppHub, type AppMessage, AppNetwork } from "./services/AppNetwork.ts"
export { AliasNotFound, ChainAliases } from "./services/ChainAliases.ts"
export * as NodeServices from "./services/Defaults.ts"
export * as NodeServicesServer from "./services/NodeServicesServer.ts"
export { type Validator, ValidatorSet, ValidatorStateError } from "./services/ValidatorSet.ts"
export { SharedMemory, SharedMemoryError } from "./services/SharedMemory.ts"
export { ChainSignals, NotifyRefused } from "./services/ChainSignals.ts"
export * as Warp from "./services/WarpSigner.ts"
export { InvalidSignerKey, WarpRefused, WarpSigner } from "./services/WarpSigner.ts"
export { GatewayListenError, HttpGateway, type GatewayOptions, type ListenOptions, type VmHandler } from "./http/HttpGateway.ts"
