/**
 * The enumerations of `vm.proto` as host and SDK spell them. One spelling on both sides (the
 * proto names in PascalCase), and one table each way, so that a value the other side sends
 * that this version does not know is reported, never guessed.
 */
import {
  Message as MessagePb,
  State as StatePb,
  StateSummaryAcceptResponse_Mode as ModePb,
  Status as StatusPb
} from "@vmre/proto/vm/vm_pb"
import { Result } from "effect"

/** The engine phase the node moves the VM into (`SetState`). */
export type VmState = "StateSyncing" | "Bootstrapping" | "NormalOp"

/** What the VM asks the engine for (`WaitForEvent`, avalanchego). */
export type VmEvent = "BuildBlock" | "StateSyncFinished"

/** How the VM syncs to an accepted state summary (`StateSummaryAccept`). */
export type StateSyncMode = "Skipped" | "Static" | "Dynamic"

/** luxd's block status; avalanchego VMs leave it `Unspecified`. */
export type BlockStatus = "Unspecified" | "Processing" | "Rejected" | "Accepted"

/** A proto enum number this side has no name for. */
export interface UnknownValue {
  readonly enumName: string
  readonly value: number
}

const table = <Name extends string, Value extends number>(
  enumName: string,
  pairs: ReadonlyArray<readonly [Name, Value]>
) => {
  const byName = new Map<Name, Value>(pairs)
  const byValue = new Map<number, Name>(pairs.map(([name, value]) => [value, name]))
  return {
    toProto: (name: Name): Value => byName.get(name)!,
    fromProto: (value: number): Result.Result<Name, UnknownValue> => {
      const name = byValue.get(value)
      return name === undefined ? Result.fail({ enumName, value }) : Result.succeed(name)
    },
    names: pairs.map(([name]) => name)
  }
}

// The UNSPECIFIED values of State, Message and Mode are not values a peer may send.
export const vmState = table<VmState, StatePb>("vm.State", [
  ["StateSyncing", StatePb.STATE_SYNCING],
  ["Bootstrapping", StatePb.BOOTSTRAPPING],
  ["NormalOp", StatePb.NORMAL_OP]
])

export const vmEvent = table<VmEvent, MessagePb>("vm.Message", [
  ["BuildBlock", MessagePb.BUILD_BLOCK],
  ["StateSyncFinished", MessagePb.STATE_SYNC_FINISHED]
])

export const stateSyncMode = table<StateSyncMode, ModePb>("vm.StateSummaryAcceptResponse.Mode", [
  ["Skipped", ModePb.SKIPPED],
  ["Static", ModePb.STATIC],
  ["Dynamic", ModePb.DYNAMIC]
])

export const blockStatus = table<BlockStatus, StatusPb>("vm.Status", [
  ["Unspecified", StatusPb.UNSPECIFIED],
  ["Processing", StatusPb.PROCESSING],
  ["Rejected", StatusPb.REJECTED],
  ["Accepted", StatusPb.ACCEPTED]
])
