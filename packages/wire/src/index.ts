/**
 * @vmre/wire: what both sides of the rpcchainvm wire must agree on, in one place. The host
 * (`@vmre/runtime`) and the SDK (`@vmre/plugin`) import it; neither keeps a copy.
 */
export * as EngineEnv from "./EngineEnv.ts"
export * as Ids from "./Ids.ts"
export type { PeerVersion } from "./PeerVersion.ts"
export * as ProtocolVersion from "./ProtocolVersion.ts"
export * as Timestamp from "./Timestamp.ts"
export * as WireErrors from "./WireErrors.ts"
export * as VmEnums from "./VmEnums.ts"
export * as HttpWire from "./HttpWire.ts"
export * as LuxdServices from "./LuxdServices.ts"
