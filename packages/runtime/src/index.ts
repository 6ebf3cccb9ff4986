/**
 * @vmre/runtime — the host side of vmre.
 *
 * `VmRuntime.layer` gives a `VmRuntime` service whose `launch` starts a VM plugin, completes the
 * rpcchainvm handshake and returns a scoped `VmInstance`; `ChainVm.layer` launches one and
 * provides the typed client of its `vm.VM` service.
 */
import { Ids } from "@vmre/wire"

export * as Attach from "./Attach.ts"
export * as Checksum from "./Checksum.ts"
export * as Durations from "./Durations.ts"
export * as Errors from "./Errors.ts"
export * as Handshake from "./Handshake.ts"
export { Lifecycle, type LifecycleEvent } from "./Lifecycle.ts"
export * as PluginLog from "./PluginLog.ts"
export * as PrometheusText from "./PrometheusText.ts"
export * as ResourceLimits from "./ResourceLimits.ts"
export { EngineEnv, ProtocolVersion } from "@vmre/wire"
export { type AttachConfig, type LaunchConfig, type VmInstance, VmRuntime, VmRuntimeConfig } from "./VmRuntime.ts"
export * as Supervisor from "./Supervisor.ts"
export * as VmProcess from "./VmProcess.ts"
export { type ListenOptions as MetricsListenOptions, MetricsListenError, VmMetrics, type VmMetricsOptions, type VmMetricsSource } from "./VmMetrics.ts"

// The typed client of a plugin's vm.VM service, and the ids it speaks in.
export { type ChainVmAttachConfig, type ChainVmConfig, type ConnectOptions, ChainVm, CurrentVm } from "./chainvm/ChainVm.ts"
export { type Call, type ClientOptions, type KeepaliveOptions } from "./chainvm/Call.ts"
export { type ChainVmClient } from "./chainvm/Client.ts"
export type {
  AppGossip,
  AppRequest,
  AppRequestFailed,
  AppResponse,
  Block,
  BlockContextOptions,
  BlockStatus,
  CrossChainAppRequest,
  CrossChainAppRequestFailed,
  CrossChainAppResponse,
  GetAncestorsParams,
  HttpHandler,
  InitializeParams,
  LastAccepted,
  Metric,
  MetricFamily,
  MetricType,
  NetworkUpgrades,
  PeerVersion,
  RpcName,
  StateSummary,
  StateSyncMode,
  VmEvent,
  VmState
} from "./chainvm/Values.ts"
export { Ids } from "@vmre/wire"
/** A 32-byte id (blocks, chains, subnets) and a 20-byte node id, with their CB58 text form in `Ids`. */
export const { Id, NodeId } = Ids
export type Id = Ids.Id
export type NodeId = Ids.NodeId
