/**
 * The failures that cross the wire by identity rather than as text: vm.proto's and rpcdb's
 * `err` enums (sent with gRPC status OK), and the one table that maps them both ways.
 *
 * A VM written with the SDK fails with these classes; the SDK's server turns them into the
 * enum, and the host's client turns the enum back into the same classes, with the method filled in.
 */
import { Error as VmErr } from "@vmre/proto/vm/vm_pb"
import { Error as RpcDbErr } from "@vmre/proto/rpcdb/rpcdb_pb"
import { Result, Schema } from "effect"

const where = (method: string | undefined) => (method === undefined ? "" : `vm.VM/${method}: `)

/** `ERROR_NOT_FOUND`: nothing with that id or height, e.g. an unknown block. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  /** What was looked for, e.g. `block 2Nq…`; may be empty. */
  subject: Schema.String,
  /** The RPC that answered it; set by the host's client. */
  method: Schema.optional(Schema.String)
}) {
  override get message() {
    return `${where(this.method)}not found${this.subject === "" ? "" : `: ${this.subject}`}`
  }
}

/** `ERROR_CLOSED`: the VM (or its database) is shut down. */
export class Closed extends Schema.TaggedError<Closed>()("Closed", {
  method: Schema.optional(Schema.String)
}) {
  override get message() {
    return this.method === undefined ? "closed" : `${where(this.method)}the vm is closed`
  }
}

/** `ERROR_STATE_SYNC_NOT_IMPLEMENTED`: the VM does not support state sync. */
export class StateSyncNotImplemented extends Schema.TaggedError<StateSyncNotImplemented>()(
  "StateSyncNotImplemented",
  { method: Schema.optional(Schema.String) }
) {
  override get message() {
    return `${where(this.method)}the vm does not implement state sync`
  }
}

/** Any failure the vm.proto `err` enum names. */
export type VmKnownError = NotFound | Closed | StateSyncNotImplemented

/** The `err` value for a failure the enum names; undefined for any other failure (sent as a status). */
export const toVmErr = (error: unknown): VmErr | undefined =>
  Schema.is(NotFound)(error)
    ? VmErr.NOT_FOUND
    : Schema.is(Closed)(error)
    ? VmErr.CLOSED
    : Schema.is(StateSyncNotImplemented)(error)
    ? VmErr.STATE_SYNC_NOT_IMPLEMENTED
    : undefined

/**
 * The failure an answer's `err` value stands for: success for none, the typed error for a known
 * value, or the unknown number itself (a peer newer than this table, or a broken one).
 */
export const fromVmErr = (
  err: VmErr,
  method: string,
  subject = ""
): Result.Result<void, VmKnownError | number> => {
  switch (err) {
    case VmErr.UNSPECIFIED:
      return Result.succeed(undefined)
    case VmErr.NOT_FOUND:
      return Result.fail(new NotFound({ method, subject }))
    case VmErr.CLOSED:
      return Result.fail(new Closed({ method }))
    case VmErr.STATE_SYNC_NOT_IMPLEMENTED:
      return Result.fail(new StateSyncNotImplemented({ method }))
    default:
      return Result.fail(err)
  }
}

/** What rpcdb's `err` values mean: a closed database, or a missing key. */
export type RpcDbFailure = "closed" | "not-found"

/** The rpcdb `err` value of a failure kind. */
export const toRpcDbErr = (failure: RpcDbFailure): RpcDbErr =>
  failure === "closed" ? RpcDbErr.CLOSED : RpcDbErr.NOT_FOUND

/** The failure kind of an rpcdb `err` value: undefined for none, the number itself if unknown. */
export const fromRpcDbErr = (err: RpcDbErr): RpcDbFailure | undefined | number =>
  err === RpcDbErr.UNSPECIFIED ? undefined : err === RpcDbErr.CLOSED ? "closed" : err === RpcDbErr.NOT_FOUND ? "not-found" : err

/** The text of any failure, never empty: what a Go peer sees as the status message. */
export const messageOf = (error: unknown): string => {
  if (error instanceof Error && error.message !== "") return error.message
  if (typeof error === "object" && error !== null) {
    const { message, _tag } = error as { message?: unknown; _tag?: unknown }
    if (typeof message === "string" && message !== "") return message
    if (typeof _tag === "string") return _tag
  }
  if (typeof error === "string" && error !== "") return error
  const text = String(error)
  return text === "" || text === "[object Object]" ? "the vm failed without an error message" : text
}
