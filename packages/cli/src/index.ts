/**
 * @vmre/cli — the `vmre` command. `bin/vmre.js` runs it (src/main.ts); this module exports its
 * parts for embedding and tests.
 */
export { type CheckError, checkPlugin, vmre } from "./Cli.ts"
export { ExitCode, Reported } from "./ExitCode.ts"
export * as Pack from "./Pack.ts"
export * as LaunchFlags from "./LaunchFlags.ts"
export * as Log from "./Log.ts"
export * as Report from "./Report.ts"
export { SignalStop, type SignalStopState } from "./SignalStop.ts"
export { StatusLine, type StatusLineState } from "./StatusLine.ts"
