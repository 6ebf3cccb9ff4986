/**
 * Encoding of request fields and decoding of answer fields. Each helper gives a `Result`
 * whose failure is the reason, naming the field: the client turns a failed encoding into
 * `InvalidRequest` (nothing is sent) and a failed decoding into `InvalidResponse`.
 */
import { create } from "@bufbuild/protobuf"
import { type Duration as PbDuration, DurationSchema, type Timestamp } from "@bufbuild/protobuf/wkt"
import * as pb from "@vmre/proto/vm/vm_pb"
import { Ids, Timestamp as WireTimestamp, VmEnums } from "@vmre/wire"
import { DateTime, Duration, Option, Result, Schema } from "effect"
import type { Block, BlockStatus, LastAccepted, NetworkUpgrades, VmState } from "./Values.ts"

type Id = Ids.Id
type NodeId = Ids.NodeId

/** A field's value, or why it cannot be sent or read. */
export type Field<A> = Result.Result<A, string>

const isId = Schema.is(Ids.Id)
const isNodeId = Schema.is(Ids.NodeId)

const describeBytes = (value: unknown): string =>
  value instanceof Uint8Array ? `${value.length} bytes` : typeof value

export const sendId = (field: string, value: Id): Field<Uint8Array> =>
  isId(value) ? Result.succeed(value) : Result.fail(`${field} must be a 32-byte id, got ${describeBytes(value)}`)

export const sendNodeId = (field: string, value: NodeId): Field<Uint8Array> =>
  isNodeId(value) ?
    Result.succeed(value) :
    Result.fail(`${field} must be a 20-byte node id, got ${describeBytes(value)}`)

export const bytes = (field: string, value: Uint8Array): Field<Uint8Array> =>
  value instanceof Uint8Array ? Result.succeed(value) : Result.fail(`${field} must be a Uint8Array, got ${typeof value}`)

const integer = (field: string, value: number, min: number, max: number, type: string): Field<number> =>
  Number.isInteger(value) && value >= min && value <= max ?
    Result.succeed(value) :
    Result.fail(`${field} must be a ${type} (${min}..${max}), got ${value}`)

export const uint32 = (field: string, value: number) => integer(field, value, 0, 0xffff_ffff, "uint32")
export const int32 = (field: string, value: number) => integer(field, value, -0x8000_0000, 0x7fff_ffff, "int32")

const UINT64_MAX = (1n << 64n) - 1n
const INT64_MAX = (1n << 63n) - 1n

export const uint64 = (field: string, value: bigint): Field<bigint> =>
  typeof value === "bigint" && value >= 0n && value <= UINT64_MAX ?
    Result.succeed(value) :
    Result.fail(`${field} must be a uint64 bigint, got ${String(value)}`)

export const int64Nanos = (field: string, value: Duration.Duration): Field<bigint> => {
  const nanos = Duration.toNanos(value)
  return Option.isNone(nanos) || nanos.value > INT64_MAX ?
    Result.fail(`${field} must be a finite duration below 2^63 ns, got ${Duration.format(value)}`) :
    Result.succeed(nanos.value)
}

export const sendDuration = (field: string, value: Duration.Duration): Field<PbDuration> =>
  Result.map(
    int64Nanos(field, value),
    (nanos) => create(DurationSchema, { seconds: nanos / 1_000_000_000n, nanos: Number(nanos % 1_000_000_000n) })
  )

export const sendTimestamp = (field: string, value: DateTime.DateTime): Field<Timestamp> =>
  DateTime.isDateTime(value) ?
    Result.mapError(WireTimestamp.fromMillis(DateTime.toEpochMillis(value)), (reason) => `${field} is ${reason}`) :
    Result.fail(`${field} must be a DateTime`)

export const readTimestamp = (field: string, value: Timestamp | undefined): Field<DateTime.Utc> =>
  value === undefined ?
    Result.fail(`${field} is missing`) :
    Result.mapBoth(WireTimestamp.toMillis(value), {
      onFailure: (reason) => `${field} is ${reason}`,
      onSuccess: (millis) => DateTime.makeUnsafe(millis)
    })

export const readId = (field: string, value: Uint8Array): Field<Id> =>
  value.length === 32 ? Result.succeed(value as Id) : Result.fail(`${field} must be 32 bytes, got ${value.length}`)

/** A proto enum number the wire contract has no name for. */
const unknownValue = (field: string) => (unknown: VmEnums.UnknownValue) => `unknown ${field} value ${unknown.value}`

export const readStatus = (value: pb.Status): Field<BlockStatus> =>
  Result.mapError(VmEnums.blockStatus.fromProto(value), unknownValue("status"))

export const sendState = (state: VmState): Field<pb.State> =>
  VmEnums.vmState.names.includes(state) ?
    Result.succeed(VmEnums.vmState.toProto(state)) :
    Result.fail(`unknown state ${JSON.stringify(state)}`)

export const sendUpgrades = (u: NetworkUpgrades): Field<pb.NetworkUpgrades> =>
  Result.map(
    Result.all({
      apricotPhase1Time: sendTimestamp("apricot_phase_1_time", u.apricotPhase1Time),
      apricotPhase2Time: sendTimestamp("apricot_phase_2_time", u.apricotPhase2Time),
      apricotPhase3Time: sendTimestamp("apricot_phase_3_time", u.apricotPhase3Time),
      apricotPhase4Time: sendTimestamp("apricot_phase_4_time", u.apricotPhase4Time),
      apricotPhase4MinPChainHeight: uint64("apricot_phase_4_min_p_chain_height", u.apricotPhase4MinPChainHeight),
      apricotPhase5Time: sendTimestamp("apricot_phase_5_time", u.apricotPhase5Time),
      apricotPhasePre6Time: sendTimestamp("apricot_phase_pre_6_time", u.apricotPhasePre6Time),
      apricotPhase6Time: sendTimestamp("apricot_phase_6_time", u.apricotPhase6Time),
      apricotPhasePost6Time: sendTimestamp("apricot_phase_post_6_time", u.apricotPhasePost6Time),
      banffTime: sendTimestamp("banff_time", u.banffTime),
      cortinaTime: sendTimestamp("cortina_time", u.cortinaTime),
      cortinaXChainStopVertexId: sendId("cortina_x_chain_stop_vertex_id", u.cortinaXChainStopVertexId),
      durangoTime: sendTimestamp("durango_time", u.durangoTime),
      etnaTime: sendTimestamp("etna_time", u.etnaTime),
      fortunaTime: sendTimestamp("fortuna_time", u.fortunaTime),
      graniteTime: sendTimestamp("granite_time", u.graniteTime),
      graniteEpochDuration: sendDuration("granite_epoch_duration", u.graniteEpochDuration),
      heliconTime: sendTimestamp("helicon_time", u.heliconTime)
    }),
    (fields) => create(pb.NetworkUpgradesSchema, fields)
  )

/** The block fields every block-carrying answer has. */
export interface BlockFields {
  readonly parentId: Uint8Array
  readonly height: bigint
  readonly timestamp?: Timestamp | undefined
  readonly verifyWithContext: boolean
  readonly status?: pb.Status
}

export const readBlock = (r: BlockFields, id: Uint8Array, blockBytes: Uint8Array): Field<Block> =>
  Result.gen(function*() {
    return {
      id: yield* readId("id", id),
      parentId: yield* readId("parent_id", r.parentId),
      bytes: blockBytes,
      height: r.height,
      timestamp: yield* readTimestamp("timestamp", r.timestamp),
      verifyWithContext: r.verifyWithContext,
      status: yield* readStatus(r.status ?? pb.Status.UNSPECIFIED)
    }
  })

export const readLastAccepted = (r: pb.InitializeResponse | pb.SetStateResponse): Field<LastAccepted> =>
  Result.gen(function*() {
    return {
      id: yield* readId("last_accepted_id", r.lastAcceptedId),
      parentId: yield* readId("last_accepted_parent_id", r.lastAcceptedParentId),
      height: r.height,
      bytes: r.bytes,
      timestamp: yield* readTimestamp("timestamp", r.timestamp)
    }
  })
