/**
 * @vmre/runtime — the host side of vmre.
 *
 * `Runtime.layer` gives a `Runtime` service whose `launch` starts a VM plugin, completes the
 * rpcchainvm handshake and returns a scoped `VmInstance`.
 */
export * as Checksum from "./Checksum.ts"
export * as Errors from "./Errors.ts"
export * as Handshake from "./Handshake.ts"
export { Lifecycle, type LifecycleEvent } from "./Lifecycle.ts"
export * as PluginLog from "./PluginLog.ts"
export * as ProtocolVersion from "./ProtocolVersion.ts"
export { ENGINE_ADDR_ENV_NAMES, type LaunchConfig, Runtime, RuntimeConfig, type VmInstance } from "./Runtime.ts"
export * as Supervisor from "./Supervisor.ts"
export * as VmProcess from "./VmProcess.ts"
