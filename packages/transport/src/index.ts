export * as GrpcClient from "./GrpcClient.ts"
export * as GrpcServer from "./GrpcServer.ts"
export * as Health from "./Health.ts"
export * as Tracing from "./Tracing.ts"
