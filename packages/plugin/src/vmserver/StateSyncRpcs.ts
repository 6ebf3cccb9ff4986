/**
 * The state-sync RPCs. A VM without `stateSync` answers `ERROR_STATE_SYNC_NOT_IMPLEMENTED`
 * (and `enabled = false`), as upstream; `NotFound` and `Closed` travel as the `err` enum.
 */
import type { ServiceImpl } from "@connectrpc/connect"
import { StateSummaryAcceptResponse_Mode as ModeEnum, type VM } from "@vmre/proto/vm/vm_pb"
import { VmEnums } from "@vmre/wire"
import { Effect } from "effect"
import type { Block } from "../Block.ts"
import type { StateSyncableVM } from "../VmDefinition.ts"
import { stateSyncNotImplemented } from "./Failures.ts"
import type { ServerParts } from "./Parts.ts"

type StateSyncService = Pick<
  ServiceImpl<typeof VM>,
  | "stateSyncEnabled"
  | "getOngoingSyncStateSummary"
  | "getLastStateSummary"
  | "parseStateSummary"
  | "getStateSummary"
  | "stateSummaryAccept"
>

const withErrEnum = { locked: true, errEnum: {} } as const

export const stateSyncRpcs = <B extends Block>({ handle, vm }: ServerParts<B>): StateSyncService => {
  /** The VM's answer, or the not-implemented answer for a VM without state sync. */
  const withSync = <A>(
    answer: (sync: StateSyncableVM) => Effect.Effect<A, unknown>
  ): Effect.Effect<A | typeof stateSyncNotImplemented, unknown> =>
    vm.stateSync === undefined ? Effect.succeed(stateSyncNotImplemented) : answer(vm.stateSync)

  return {
    stateSyncEnabled: handle("StateSyncEnabled", withErrEnum, () =>
      // Upstream answers a VM without state sync with enabled = false and no error.
      Effect.map(vm.stateSync === undefined ? Effect.succeed(false) : vm.stateSync.enabled, (enabled) => ({ enabled }))),

    getOngoingSyncStateSummary: handle("GetOngoingSyncStateSummary", withErrEnum, () =>
      withSync((sync) => Effect.map(sync.getOngoingSyncStateSummary, (s) => ({ id: s.id, height: s.height, bytes: s.bytes })))),

    getLastStateSummary: handle("GetLastStateSummary", withErrEnum, () =>
      withSync((sync) => Effect.map(sync.getLastStateSummary, (s) => ({ id: s.id, height: s.height, bytes: s.bytes })))),

    parseStateSummary: handle("ParseStateSummary", withErrEnum, (request) =>
      withSync((sync) => Effect.map(sync.parseStateSummary(request.bytes), (s) => ({ id: s.id, height: s.height })))),

    getStateSummary: handle("GetStateSummary", withErrEnum, (request) =>
      withSync((sync) => Effect.map(sync.getStateSummary(request.height), (s) => ({ id: s.id, bytes: s.bytes })))),

    stateSummaryAccept: handle("StateSummaryAccept", { locked: true, errEnum: { mode: ModeEnum.SKIPPED } }, (request) => {
      const sync = vm.stateSync
      // Upstream: mode SKIPPED with the not-implemented error.
      if (sync === undefined) return Effect.succeed({ mode: ModeEnum.SKIPPED, ...stateSyncNotImplemented })
      return Effect.gen(function*() {
        const summary = yield* sync.parseStateSummary(request.bytes)
        return { mode: VmEnums.stateSyncMode.toProto(yield* summary.accept) }
      })
    })
  }
}
