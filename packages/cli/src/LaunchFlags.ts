/**
 * The command-line arguments shared by `vmre check` and `vmre run`: which plugin to start
 * and how, turned into the runtime's `LaunchConfig`.
 */
import { type ChainVmConfig, Durations } from "@vmre/runtime"
import { ProtocolVersion } from "@vmre/wire"
import { Duration, Option } from "effect"
import { Argument, Flag } from "effect/cli"

/** Bytes from `512MiB`, `2GiB`, `64KiB` or a plain number of bytes. */
export const parseSize = (text: string): Option.Option<number> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|K|M|G|B)?\s*$/i.exec(text)
  if (match === null) return Option.none()
  const unit = (match[2] ?? "B").toUpperCase()[0]!
  const factor = unit === "K" ? 1024 : unit === "M" ? 1024 ** 2 : unit === "G" ? 1024 ** 3 : 1
  const bytes = Math.floor(Number(match[1]) * factor)
  return bytes >= 1024 * 1024 ? Option.some(bytes) : Option.none()
}

/** `KEY=VALUE`; the value may be empty or contain `=`, the key may not be empty or contain `=`. */
export const parseEnvEntry = (text: string): Option.Option<readonly [string, string]> => {
  const separator = text.indexOf("=")
  return separator <= 0 ? Option.none() : Option.some([text.slice(0, separator), text.slice(separator + 1)] as const)
}

const duration = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription(description),
    Flag.filterMap(Durations.parse, () => Durations.HINT),
    Flag.optional
  )

/** The flags that say how a plugin is launched (shared by every command that launches plugins). */
export const launchOptionFlags = {
  protocol: Flag.String("protocol").pipe(
    Flag.withMetavar("VERSIONS"),
    Flag.withDescription(
      "rpcchainvm protocol version(s) the plugin may report: 45, 44,45, 42-45 or a release such as v1.14.2 " +
        "(default 45, or $VMRE_PROTOCOL_VERSION)"
    ),
    Flag.filterMap(
      // Spelled out (not ProtocolVersion.Accepted) so that declaration files can name it.
      (text): Option.Option<number | ReadonlyArray<number>> => {
        const set = ProtocolVersion.parseSet(text)
        return set === undefined ? Option.none() : Option.some(set.length === 1 ? set[0]! : set)
      },
      () => ProtocolVersion.SET_HINT
    ),
    Flag.optional
  ),
  handshakeTimeout: duration(
    "handshake-timeout",
    "How long the plugin may take to call Initialize (default 5s, or $VMRE_HANDSHAKE_TIMEOUT)"
  ),
  callTimeout: duration(
    "call-timeout",
    "Bound on each vm.VM call (default 30s; Initialize and SetState 5m)"
  ),
  stopTimeout: duration(
    "stop-timeout",
    "How long the plugin may take to exit after SIGTERM before SIGKILL (default 5s, or $VMRE_STOP_TIMEOUT)"
  ),
  envNames: Flag.String("env-name").pipe(
    Flag.withMetavar("NAME"),
    Flag.filterMap(
      (name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? Option.some(name) : Option.none(),
      () => "an environment variable name (letters, digits and _, not starting with a digit)"
    ),
    Flag.withDescription(
      "Env var that carries the engine address (repeatable; default all of LUX_VM_RUNTIME_ENGINE_ADDR, " +
        "VM_RUNTIME_ENGINE_ADDR, AVALANCHE_VM_RUNTIME_ENGINE_ADDR)"
    ),
    Flag.atLeast(0)
  ),
  env: Flag.String("env").pipe(
    Flag.withMetavar("KEY=VALUE"),
    Flag.withDescription("Extra environment variable for the plugin (repeatable)"),
    Flag.filterMap(parseEnvEntry, () => "KEY=VALUE with a non-empty KEY"),
    Flag.atLeast(0)
  ),
  inheritEnv: Flag.Boolean("inherit-env").pipe(
    Flag.withDescription("Pass this process's whole environment to the plugin (by default it gets only GRPC_* and GODEBUG*)"),
    Flag.withDefault(false)
  ),
  expectSha256: Flag.String("expect-sha256").pipe(
    Flag.withMetavar("HEX"),
    Flag.withDescription("Refuse to start PLUGIN unless its SHA-256 is HEX (vmre check --sha256 prints it)"),
    Flag.filterMap(
      (hex) => /^[0-9a-f]{64}$/i.test(hex.trim()) ? Option.some(hex.trim()) : Option.none(),
      () => "a SHA-256 digest: 64 hexadecimal digits"
    ),
    Flag.optional
  ),
  memoryLimit: Flag.String("memory-limit").pipe(
    Flag.withMetavar("SIZE"),
    Flag.withDescription("Memory limit of the plugin's cgroup, e.g. 512MiB or 2GiB (over it the kernel OOM-kills it)"),
    Flag.filterMap(parseSize, () => "a size: a number of bytes, or with KiB, MiB or GiB"),
    Flag.optional
  ),
  pidsLimit: Flag.Int("pids-limit").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("Processes and threads the plugin's cgroup may hold (over it forks fail)"),
    Flag.filterMap((n) => (n >= 1 ? Option.some(n) : Option.none()), () => "a count of at least 1"),
    Flag.optional
  ),
  cpuLimit: Flag.String("cpu-limit").pipe(
    Flag.withMetavar("CORES"),
    Flag.withDescription("CPU time of the plugin's cgroup, in cores (0.5 = half a core)"),
    Flag.filterMap((text) => {
      const cores = Number(text)
      return Number.isFinite(cores) && cores >= 0.01 ? Option.some(cores) : Option.none()
    }, () => "a number of cores, at least 0.01"),
    Flag.optional
  ),
  requireSecret: Flag.Boolean("require-secret").pipe(
    Flag.withDescription(
      "Require the plugin to present a per-launch secret on Initialize (plugins written with @vmre/plugin do; Go plugins cannot)"
    ),
    Flag.withDefault(false)
  ),
  handshakeOnly: Flag.Boolean("handshake-only").pipe(
    Flag.withDescription(
      "Do not talk to the plugin's vm.VM service (no Version, Health or Shutdown calls): for plugins that only handshake"
    ),
    Flag.withDefault(false)
  )
} as const

/** The positional arguments and flags that say what to launch and how. */
export const launchFlags = {
  plugin: Argument.String("plugin").pipe(
    Argument.withMetavar("PATH"),
    Argument.withDescription("Path of the plugin executable (relative to the current directory)")
  ),
  args: Argument.String("args").pipe(
    Argument.withMetavar("ARG"),
    Argument.withDescription("Arguments for the plugin (put them after -- if they start with -)"),
    Argument.variadic()
  ),
  name: Flag.String("name").pipe(
    Flag.withDescription("Name of the plugin in log lines (default: the file name of PLUGIN)"),
    Flag.optional
  ),
  ...launchOptionFlags
} as const

/** What {@link launchOptionFlags} parse to. */
export interface LaunchOptionInput {
  readonly protocol: Option.Option<number | ReadonlyArray<number>>
  readonly handshakeTimeout: Option.Option<Duration.Duration>
  readonly stopTimeout: Option.Option<Duration.Duration>
  readonly callTimeout: Option.Option<Duration.Duration>
  readonly envNames: ReadonlyArray<string>
  readonly env: ReadonlyArray<readonly [string, string]>
  readonly inheritEnv: boolean
  readonly expectSha256: Option.Option<string>
  readonly requireSecret: boolean
  readonly memoryLimit: Option.Option<number>
  readonly pidsLimit: Option.Option<number>
  readonly cpuLimit: Option.Option<number>
  readonly handshakeOnly: boolean
}

export interface LaunchInput extends LaunchOptionInput {
  readonly plugin: string
  readonly args: ReadonlyArray<string>
  readonly name: Option.Option<string>
}

/** The launch options of {@link launchOptionFlags}, for launches whose path and name come from elsewhere. */
export const toLaunchOptions = (input: LaunchOptionInput): Omit<ChainVmConfig, "path" | "name" | "args"> => ({
  callTimeout: Option.getOrUndefined(input.callTimeout),
  env: Object.fromEntries(input.env),
  inheritEnv: input.inheritEnv,
  protocolVersion: Option.getOrUndefined(input.protocol),
  handshakeTimeout: Option.getOrUndefined(input.handshakeTimeout),
  stopTimeout: Option.getOrUndefined(input.stopTimeout),
  engineAddrEnvNames: input.envNames.length === 0 ? undefined : input.envNames,
  sha256: Option.getOrUndefined(input.expectSha256),
  requireSecret: input.requireSecret,
  limits: Option.isNone(input.memoryLimit) && Option.isNone(input.pidsLimit) && Option.isNone(input.cpuLimit) ?
    undefined :
    {
      memoryBytes: Option.getOrUndefined(input.memoryLimit),
      pids: Option.getOrUndefined(input.pidsLimit),
      cpus: Option.getOrUndefined(input.cpuLimit)
    }
})

/** The runtime's launch config; what is not given comes from the runtime's defaults. */
export const toLaunchConfig = (input: LaunchInput): ChainVmConfig => ({
  ...toLaunchOptions(input),
  path: input.plugin,
  args: input.args,
  name: Option.getOrUndefined(input.name)
})
