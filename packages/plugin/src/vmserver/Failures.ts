/**
 * How a VM's failures reach the node: the ones the node knows by identity as the `err` enum
 * of an OK answer (the wire contract's table, plus the database's `DatabaseClosed` as
 * `ERROR_CLOSED`), every other one as a gRPC error status carrying its message.
 */
import { Code, ConnectError } from "@connectrpc/connect"
import { Error as VmErr } from "@vmre/proto/vm/vm_pb"
import { Database } from "@vmre/rpcdb"
import { WireErrors } from "@vmre/wire"
import { Cause, Effect, Result, Schema } from "effect"

/** A failure already shaped for the wire. */
export const rpcError = (message: string, code: Code) => new ConnectError(message, code)

/** The text of any failure: a ConnectError's own text, else the error's message, never empty. */
export const messageOf = (error: unknown): string =>
  error instanceof ConnectError ? error.rawMessage : WireErrors.messageOf(error)

const isDatabaseClosed = Schema.is(Database.DatabaseClosed)

/** The `err` enum for the errors the node knows by identity; undefined for any other. */
export const errEnumOf = (error: unknown): VmErr | undefined =>
  isDatabaseClosed(error) ? VmErr.CLOSED : WireErrors.toVmErr(error)

/** The gRPC error for a failed call: the failure's own ConnectError, or its message. */
export const toConnectError = (cause: Cause.Cause<unknown>): ConnectError => {
  if (Cause.hasInterruptsOnly(cause)) return rpcError("the call was cancelled", Code.Canceled)
  const found = Cause.findError(cause)
  const error = Result.isSuccess(found) ? found.success : Cause.squash(cause)
  if (error instanceof ConnectError) return error
  // A plain error of a Go server is UNKNOWN with the error's text; so is ours.
  return rpcError(messageOf(error), Code.Unknown)
}

/** Catches the failures the node knows by identity into an OK answer `{ ...extra, err }`. */
export const orErrEnum = <A, E>(effect: Effect.Effect<A, E>, extra: object = {}) =>
  effect.pipe(
    Effect.catch((error) => {
      const err = errEnumOf(error)
      return err === undefined ? Effect.fail(error) : Effect.succeed({ ...extra, err })
    })
  )

/** The answer of a state-sync RPC to a VM without state sync. */
export const stateSyncNotImplemented = { err: VmErr.STATE_SYNC_NOT_IMPLEMENTED }
