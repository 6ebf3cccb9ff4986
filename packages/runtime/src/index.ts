/**
 * @vmre/runtime — the host side of vmre.
 *
 * `Runtime.layer` gives a `Runtime` service whose `launch` starts a VM plugin, completes the
 * rpcchainvm handshake and returns a scoped `VmInstance`.
 */
export * as Checksum from "./Checksum.ts"
export * as Durations from "./Durations.ts"
export * as Errors from "./Errors.ts"
export * as Handshake from "./Handshake.ts"
export { Lifecycle, type LifecycleEvent } from "./Lifecycle.ts"
export * as PluginLog from "./PluginLog.ts"
export { EngineEnv, ProtocolVersion } from "@vmre/wire"
export { type LaunchConfig, Runtime, RuntimeConfig, type VmInstance } from "./Runtime.ts"
export * as Supervisor from "./Supervisor.ts"
export * as VmProcess from "./VmProcess.ts"

// The typed client of a plugin's vm.VM service, and the ids it speaks in.
export {
  type AppGossip,
  type AppRequest,
  type AppRequestFailed,
  type AppResponse,
  type Block,
  type BlockContextOptions,
  type BlockStatus,
  ChainVm,
  type ChainVmClient,
  type ChainVmConfig,
  ChainVmInstance,
  type ClientOptions,
  type ConnectOptions,
  type CrossChainAppRequest,
  type CrossChainAppRequestFailed,
  type CrossChainAppResponse,
  type GetAncestorsParams,
  type HttpHandler,
  type InitializeParams,
  type KeepaliveOptions,
  type LastAccepted,
  type Metric,
  type MetricFamily,
  type MetricType,
  type NetworkUpgrades,
  type PeerVersion,
  type RpcName,
  type StateSummary,
  type StateSyncMode,
  type VmEvent,
  type VmProcessView,
  type VmState
} from "./ChainVm.ts"
export { Id, NodeId } from "./Ids.ts"
export * as Ids from "./Ids.ts"
