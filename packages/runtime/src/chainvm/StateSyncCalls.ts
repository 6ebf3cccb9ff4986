/** The state-sync RPCs of the client. */
import * as pb from "@vmre/proto/vm/vm_pb"
import { VmEnums } from "@vmre/wire"
import { Effect, Result } from "effect"
import type { Caller } from "./Call.ts"
import { bytes, readId, uint64 } from "./Codec.ts"
import type { RpcName, StateSummary } from "./Values.ts"

export const stateSyncCalls = ({ decode, encode, invoke, known, raw }: Caller) => {
  const summary = (method: RpcName, r: pb.GetOngoingSyncStateSummaryResponse | pb.GetLastStateSummaryResponse) =>
    known(method, r.err, "state summary").pipe(
      Effect.andThen(decode(method, Result.map(readId("id", r.id), (id): StateSummary => ({ id, height: r.height, bytes: r.bytes }))))
    )

  return {
    stateSyncEnabled: Effect.fnUntraced(function*() {
      const response = yield* invoke("StateSyncEnabled", (o) => raw.stateSyncEnabled({}, o))
      if (response.err === pb.Error.STATE_SYNC_NOT_IMPLEMENTED) return false
      yield* known("StateSyncEnabled", response.err)
      return response.enabled
    }),

    getOngoingSyncStateSummary: Effect.fnUntraced(function*() {
      const response = yield* invoke("GetOngoingSyncStateSummary", (o) => raw.getOngoingSyncStateSummary({}, o))
      return yield* summary("GetOngoingSyncStateSummary", response)
    }),

    getLastStateSummary: Effect.fnUntraced(function*() {
      const response = yield* invoke("GetLastStateSummary", (o) => raw.getLastStateSummary({}, o))
      return yield* summary("GetLastStateSummary", response)
    }),

    parseStateSummary: Effect.fnUntraced(function*(summaryBytes: Uint8Array) {
      const request = yield* encode("ParseStateSummary", Result.map(bytes("bytes", summaryBytes), (b) => ({ bytes: b })))
      const response = yield* invoke("ParseStateSummary", (o) => raw.parseStateSummary(request, o))
      yield* known("ParseStateSummary", response.err, "state summary")
      return yield* decode(
        "ParseStateSummary",
        Result.map(readId("id", response.id), (id): StateSummary => ({ id, height: response.height, bytes: summaryBytes }))
      )
    }),

    getStateSummary: Effect.fnUntraced(function*(height: bigint) {
      const request = yield* encode("GetStateSummary", Result.map(uint64("height", height), (h) => ({ height: h })))
      const response = yield* invoke("GetStateSummary", (o) => raw.getStateSummary(request, o))
      yield* known("GetStateSummary", response.err, `state summary at height ${height}`)
      return yield* decode(
        "GetStateSummary",
        Result.map(readId("id", response.id), (id): StateSummary => ({ id, height, bytes: response.bytes }))
      )
    }),

    stateSummaryAccept: Effect.fnUntraced(function*(summaryBytes: Uint8Array) {
      const request = yield* encode("StateSummaryAccept", Result.map(bytes("bytes", summaryBytes), (b) => ({ bytes: b })))
      const response = yield* invoke("StateSummaryAccept", (o) => raw.stateSummaryAccept(request, o))
      yield* known("StateSummaryAccept", response.err, "state summary")
      return yield* decode(
        "StateSummaryAccept",
        Result.mapError(VmEnums.stateSyncMode.fromProto(response.mode), (u) => `unknown mode value ${u.value}`)
      )
    })
  }
}
