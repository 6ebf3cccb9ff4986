/**
 * The typed failures of launching and talking to a VM plugin. Each message is written for
 * the person reading the node's log: what happened, with the facts needed to act on it.
 */
import { Schema } from "effect"
import { ProtocolVersion, WireErrors } from "@vmre/wire"

/** How a plugin process ended: an exit code, or the signal that killed it. */
export const ProcessExit = Schema.Struct({
  code: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String)
})
export type ProcessExit = typeof ProcessExit.Type

export const describeExit = (exit: ProcessExit): string =>
  exit.signal !== null ?
    `killed by ${exit.signal}` :
    exit.code !== null ?
    `exit code ${exit.code}` :
    "gone (an attached plugin: its exit status is its own terminal's)"

const tail = (lines: ReadonlyArray<string>): string =>
  lines.length === 0 ? "" : `\nlast stderr lines:\n  ${lines.join("\n  ")}`

/** The plugin did not call `Initialize` in time. The seed's wording starts the message. */
export class HandshakeTimeout extends Schema.TaggedError<HandshakeTimeout>()("HandshakeTimeout", {
  path: Schema.String,
  pid: Schema.Int,
  timeoutMillis: Schema.Number,
  stderrTail: Schema.Array(Schema.String),
  /** `Initialize` calls refused for lacking the launch secret (with `requireSecret`). */
  refusedSecrets: Schema.optional(Schema.Int)
}) {
  override get message() {
    const refused = this.refusedSecrets ?? 0
    return refused > 0 ?
      `handshake failed: ${this.path} (pid ${this.pid}) called vm.runtime.Runtime/Initialize ${refused} time(s) ` +
        `without this launch's secret (it must send the value of VMRE_LAUNCH_SECRET in the vmre-launch-secret ` +
        `header; Go plugins cannot: launch them without requireSecret)${tail(this.stderrTail)}` :
      `handshake failed: timeout: ${this.path} (pid ${this.pid}) did not call vm.runtime.Runtime/Initialize ` +
      `within ${this.timeoutMillis} ms. Is it an rpcchainvm plugin, and does it read the engine address ` +
      `from one of the env vars vmre sets?${tail(this.stderrTail)}`
  }
}

/** Attach mode: no plugin called `Initialize` at the engine address in time. */
export class AttachTimeout extends Schema.TaggedError<AttachTimeout>()("AttachTimeout", {
  address: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `handshake failed: timeout: no plugin called vm.runtime.Runtime/Initialize at ${this.address} within ` +
      `${this.timeoutMillis} ms. Start the plugin with VM_RUNTIME_ENGINE_ADDR=${this.address} (or ` +
      `AVALANCHE_VM_RUNTIME_ENGINE_ADDR / LUX_VM_RUNTIME_ENGINE_ADDR) in its environment.`
  }
}

/** The plugin speaks another rpcchainvm protocol version than the node accepts. */
export class ProtocolVersionMismatch extends Schema.TaggedError<ProtocolVersionMismatch>()("ProtocolVersionMismatch", {
  path: Schema.String,
  /** The node's version: the highest it accepts. */
  node: Schema.Int,
  vm: Schema.Int,
  /** Every version the node accepted, when it accepted more than one. */
  accepted: Schema.optional(Schema.Array(Schema.Int))
}) {
  override get message() {
    const several = this.accepted !== undefined && this.accepted.length > 1 ? this.accepted : undefined
    const node = several === undefined ? `${this.node}` : ProtocolVersion.formatSet(several)
    const expects = several === undefined ?
      ProtocolVersion.describe(this.node) :
      `one of ${several.map(ProtocolVersion.describe).join(", ")}`
    return `handshake failed: protocol version mismatch node: ${node} vm: ${this.vm}. ` +
      `${this.path} speaks rpcchainvm protocol ${ProtocolVersion.describe(this.vm)}; this node expects ` +
      `${expects}. Use a plugin built for protocol ${node}, ` +
      `or launch it with protocol version ${this.vm} (vmre --protocol ${this.vm}) if this node supports it.`
  }
}

/** The plugin exited (or was killed) before it completed the handshake. */
export class ProcessExitedBeforeHandshake
  extends Schema.TaggedError<ProcessExitedBeforeHandshake>()("ProcessExitedBeforeHandshake", {
    path: Schema.String,
    pid: Schema.Int,
    exitCode: Schema.NullOr(Schema.Int),
    signal: Schema.NullOr(Schema.String),
    afterMillis: Schema.Number,
    stderrTail: Schema.Array(Schema.String)
  })
{
  override get message() {
    return `handshake failed: vm process exited before the handshake: ${this.path} (pid ${this.pid}) ` +
      `${describeExit({ code: this.exitCode, signal: this.signal })} after ${this.afterMillis} ms` +
      tail(this.stderrTail)
  }
}

/** Why a plugin binary could not be executed. */
export const SpawnFailureReason = Schema.Literals([
  "NotFound",
  "NotAFile",
  "NotExecutable",
  "WrongArchitecture",
  "WrongFormat",
  "BadInterpreter",
  "Other"
])
export type SpawnFailureReason = typeof SpawnFailureReason.Type

/** The plugin binary could not be started; `detail` says what to fix. */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>()("SpawnFailed", {
  path: Schema.String,
  reason: SpawnFailureReason,
  detail: Schema.String
}) {
  override get message() {
    return `cannot start vm plugin ${this.path}: ${this.detail}`
  }
}

/** The plugin reported an address the node must not dial (not loopback `host:port`). */
export class InvalidVmAddress extends Schema.TaggedError<InvalidVmAddress>()("InvalidVmAddress", {
  path: Schema.String,
  addr: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `handshake failed: ${this.path} reported vm address ${JSON.stringify(this.addr)}: ${this.reason}. ` +
      `A plugin must serve on loopback and report 127.0.0.1:PORT (or [::1]:PORT).`
  }
}

/** The runtime's own handshake server could not be started. */
export class RuntimeServerFailed extends Schema.TaggedError<RuntimeServerFailed>()("RuntimeServerFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `cannot start the vm.runtime.Runtime server: ${this.reason}`
  }
}

/** Everything `VmRuntime.attach` can fail with. */
export type AttachError = AttachTimeout | ProtocolVersionMismatch | InvalidVmAddress | RuntimeServerFailed

/** Everything `VmRuntime.launch` can fail with. */
export type LaunchError =
  | ChecksumMismatch
  | HandshakeTimeout
  | ProtocolVersionMismatch
  | ProcessExitedBeforeHandshake
  | SpawnFailed
  | InvalidVmAddress
  | RuntimeServerFailed

/** The plugin binary is not the one pinned by its SHA-256 digest: it was not started. */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()("ChecksumMismatch", {
  path: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `refusing to start ${this.path}: its SHA-256 is ${this.actual}, but ${this.expected} is pinned. ` +
      `If the plugin was upgraded on purpose, pin the new digest (vmre check --sha256 prints it).`
  }
}

// ---------------------------------------------------------------------------------------
// Errors of the ChainVm client (ChainVm.ts): calls to the plugin's vm.VM service.
// `method` is the RPC name as on the wire (`GetBlock` for /vm.VM/GetBlock).
// ---------------------------------------------------------------------------------------

// The failures vm.proto's `err` enum names are the shared wire contract's own classes, so a
// VM's NotFound and the host's NotFound are one type.
export const { Closed, NotFound, StateSyncNotImplemented } = WireErrors
export type Closed = WireErrors.Closed
export type NotFound = WireErrors.NotFound
export type StateSyncNotImplemented = WireErrors.StateSyncNotImplemented

/**
 * The call did not get an answer from the VM: connection refused or lost, no answer within
 * the call's timeout (`code` DeadlineExceeded), or the VM said it is unavailable. `code` is
 * the gRPC status code name (as grpc-go prints it: `Unavailable`, `DeadlineExceeded`, …).
 */
export class VmUnavailable extends Schema.TaggedError<VmUnavailable>()("VmUnavailable", {
  method: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `vm.VM/${this.method} failed: the vm is unavailable (${this.code}): ${this.reason}`
  }
}

/**
 * The VM answered the call with a gRPC error status: an error of the VM itself (upstream
 * carries every error that is not one of the `err` enum values this way, e.g. a block that
 * fails verification). `reason` is the VM's error text.
 */
export class VmCallFailed extends Schema.TaggedError<VmCallFailed>()("VmCallFailed", {
  method: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `vm.VM/${this.method} failed (${this.code}): ${this.reason}`
  }
}

/** The plugin process had exited before the call, or exited while the call was pending. */
export class VmProcessExited extends Schema.TaggedError<VmProcessExited>()("VmProcessExited", {
  method: Schema.String,
  pid: Schema.Int,
  exitCode: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String),
  stderrTail: Schema.Array(Schema.String)
}) {
  override get message() {
    return `vm.VM/${this.method} failed: the vm process (pid ${this.pid}) ` +
      `${describeExit({ code: this.exitCode, signal: this.signal })}${tail(this.stderrTail)}`
  }
}

/** An argument cannot be put on the wire (an id of the wrong length, a number out of range…); nothing was sent. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  method: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `vm.VM/${this.method}: invalid request, not sent: ${this.reason}`
  }
}

/** The VM's answer breaks the protocol (an id of the wrong length, a missing timestamp, …). */
export class InvalidResponse extends Schema.TaggedError<InvalidResponse>()("InvalidResponse", {
  method: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `vm.VM/${this.method}: invalid answer from the vm: ${this.reason}`
  }
}

/** What any ChainVm call can fail with. */
export type VmCallError = VmUnavailable | VmCallFailed | VmProcessExited | InvalidRequest | InvalidResponse

/** The `vm.Error` enum values, as typed errors. */
export type VmKnownError = NotFound | Closed | StateSyncNotImplemented

/**
 * The short form of a launch or call failure, as the Go nodes put it in their log fields
 * (`handshake failed: timeout`, `handshake failed: protocol version mismatch node: 45 vm: 44`):
 * for a log line's `error` field, next to the full message for the person who must act.
 */
export const headline = (error: LaunchError | AttachError | VmCallError): string => {
  switch (error._tag) {
    case "HandshakeTimeout":
      return (error.refusedSecrets ?? 0) > 0 ? "handshake failed: wrong launch secret" : "handshake failed: timeout"
    case "AttachTimeout":
      return "handshake failed: timeout"
    case "ProtocolVersionMismatch":
      return error.message.slice(0, error.message.indexOf(". "))
    case "ProcessExitedBeforeHandshake":
      return `handshake failed: vm process exited before the handshake (${describeExit({ code: error.exitCode, signal: error.signal })})`
    case "InvalidVmAddress":
      return `handshake failed: invalid vm address ${JSON.stringify(error.addr)}`
    default:
      return error.message.split("\n")[0]!
  }
}
