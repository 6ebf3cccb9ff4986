/**
 * What the server checks and converts at the wire: request ids (upstream's ids.ToID and
 * ids.ToNodeID refuse any other length), the VM's blocks before they go out, enums, the
 * Health document, and app-request deadlines.
 */
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt"
import { Code, type ConnectError } from "@connectrpc/connect"
import { type State as StateEnum } from "@vmre/proto/vm/vm_pb"
import { VmEnums } from "@vmre/wire"
import { Effect, Result } from "effect"
import * as BlockModule from "../Block.ts"
import type { Block } from "../Block.ts"
import * as Id from "../Id.ts"
import type { VmState } from "../VmDefinition.ts"
import { rpcError } from "./Failures.ts"

/** An app request's deadline; upstream always sets it, the epoch stands in for a missing one. */
export const deadlineOf = (deadline: Timestamp | undefined): Date =>
  deadline === undefined ? new Date(0) : timestampDate(deadline)

const requireLength = (bytes: Uint8Array, field: string, length: number): Effect.Effect<void, ConnectError> =>
  bytes.length === length
    ? Effect.void
    : Effect.fail(rpcError(`${field} must be ${length} bytes, got ${bytes.length}`, Code.InvalidArgument))

export const requireNodeId = (bytes: Uint8Array) => requireLength(bytes, "node_id", Id.NODE_ID_LENGTH)
export const requireChainId = (bytes: Uint8Array) => requireLength(bytes, "chain_id", Id.ID_LENGTH)

export const requireId = (bytes: Uint8Array, field: string): Effect.Effect<Uint8Array, ConnectError> =>
  Id.isId(bytes)
    ? Effect.succeed(bytes)
    : Effect.fail(rpcError(`${field} must be ${Id.ID_LENGTH} bytes, got ${bytes.length}`, Code.InvalidArgument))

/** A block of the VM with a valid id, parent id, height and timestamp, or INTERNAL with why not. */
export const checkBlock = <B extends Block>(block: B): Effect.Effect<B, ConnectError> => {
  const problem = BlockModule.problemOf(block)
  return problem === undefined ? Effect.succeed(block) : Effect.fail(rpcError(problem, Code.Internal))
}

/** The wire timestamp of a block `checkBlock` accepted. */
export const timestampOf = (block: Block) => {
  const ts = BlockModule.toTimestamp(BlockModule.timestampDate(block))
  return "timestamp" in ts ? ts.timestamp : undefined
}

/** A valid timestamp for answers that carry no block (not-found answers). */
export const epoch = (() => {
  const ts = BlockModule.toTimestamp(new Date(0))
  return "timestamp" in ts ? ts.timestamp : undefined
})()

export const vmStateOf = (state: StateEnum): Effect.Effect<VmState, ConnectError> => {
  const result = VmEnums.vmState.fromProto(state)
  return Result.isSuccess(result) ?
    Effect.succeed(result.success) :
    Effect.fail(rpcError(`unknown state ${state}`, Code.InvalidArgument))
}

/** JSON bytes of a Health document: bigints as decimal text, bytes as hex. */
export const jsonBytes = (value: unknown): Uint8Array =>
  new TextEncoder().encode(
    JSON.stringify(value ?? null, (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString()
      if (v instanceof Uint8Array) return Id.toHex(v)
      return v
    })
  )
