/**
 * What `vmre` prints: the check report (text for people, one JSON object for programs),
 * failures, and how a plugin process ended.
 */
import { Errors, ProtocolVersion, type VmInstance } from "@vmre/runtime"
import { Duration } from "effect"

type ProcessExit = Errors.ProcessExit
/** Any typed failure of a check: a launch error, a failed call to the VM, or (with --initialize) the node side's. */
type CheckError = { readonly _tag: string; readonly message: string }

/** A completed check: the plugin handshook and was stopped. */
export interface CheckPassed {
  readonly plugin: string
  readonly vm: VmInstance
  /** Results of the probes run on the live VM, by report field name. */
  readonly probes: Readonly<Record<string, unknown>>
  readonly stopDuration: Duration.Duration
  readonly exit: ProcessExit
  /** Processes the plugin started in its group outlived it at the stop (they ignored SIGTERM). */
  readonly groupOutlivedPlugin: boolean
}

/** Milliseconds with one decimal, as the JSON report carries them. */
export const millis = (duration: Duration.Duration): number => Math.round(Duration.toMillis(duration) * 10) / 10

/** `exit code 0`, `killed by SIGKILL`. */
export const describeExit = Errors.describeExit

const show = (value: unknown): string => typeof value === "string" ? value : JSON.stringify(value)

export const passedText = (report: CheckPassed): string => {
  const { vm } = report
  const rows: Array<readonly [string, string]> = [
    ["plugin", report.plugin],
    ["pid", String(vm.pid)],
    ["vm address", vm.vmAddr],
    ["protocol", ProtocolVersion.describe(vm.protocolVersion)],
    ["handshake", `${millis(vm.handshakeDuration)} ms`],
    ...Object.entries(report.probes).map(([field, value]) => [field, show(value)] as const),
    ["stop", `${millis(report.stopDuration)} ms, ${describeExit(report.exit)}`]
  ]
  const width = Math.max(...rows.map(([label]) => label.length)) + 1
  const lines = [`ok: ${vm.name} handshook and stopped`, ...rows.map(([label, value]) => `  ${`${label}:`.padEnd(width)} ${value}`)]
  if (report.exit.signal === "SIGKILL") {
    lines.push("  note: the plugin did not exit on SIGTERM within the stop timeout and was killed")
  }
  if (report.groupOutlivedPlugin) {
    lines.push(
      "  note: processes the plugin started in its group ignored SIGTERM and outlived it; the stop waited " +
        "for them and killed them with the group (SIGKILL)"
    )
  }
  return lines.join("\n")
}

/** The JSON report of a passed check. Field names are stable. */
export const passedJson = (report: CheckPassed) => ({
  ok: true as const,
  plugin: report.plugin,
  pid: report.vm.pid,
  vmAddr: report.vm.vmAddr,
  protocolVersion: report.vm.protocolVersion,
  handshakeMs: millis(report.vm.handshakeDuration),
  ...report.probes,
  stopMs: millis(report.stopDuration),
  exit: { code: report.exit.code, signal: report.exit.signal },
  groupOutlivedPlugin: report.groupOutlivedPlugin
})

/** `{tag, message, ...the error's own fields}`: the fields differ per tag (see the runtime's Errors). */
export const errorJson = (error: CheckError): Record<string, unknown> => {
  const { _tag, ...fields } = { ...error } as Record<string, unknown>
  return { tag: _tag, message: error.message, ...fields }
}

/** The JSON report of a failed check. */
export const failedJson = (plugin: string, error: CheckError) => ({
  ok: false as const,
  plugin,
  error: errorJson(error)
})

/** What `vmre run` prints once its plugin is serving. */
export const runningText = (vm: VmInstance): string =>
  `vmre: ${vm.name} (pid ${vm.pid}) is serving at ${vm.vmAddr}, protocol ${ProtocolVersion.describe(vm.protocolVersion)}, ` +
  `handshake in ${millis(vm.handshakeDuration)} ms; Ctrl-C or SIGTERM stops it`

/** What `vmre run` prints after stopping its plugin on a signal. */
export const stoppedText = (vm: VmInstance, exit: ProcessExit, stopDuration: Duration.Duration): string =>
  `vmre: stopped ${vm.name} (pid ${vm.pid}) in ${millis(stopDuration)} ms: ${describeExit(exit)}`

/** What `vmre run` prints when its plugin ends on its own. */
export const exitedText = (vm: VmInstance, exit: ProcessExit, stderrTail: ReadonlyArray<string>): string =>
  `vmre: ${vm.name} (pid ${vm.pid}) exited on its own: ${describeExit(exit)}` +
  (stderrTail.length === 0 ? "" : `\nlast stderr lines:\n  ${stderrTail.join("\n  ")}`)
