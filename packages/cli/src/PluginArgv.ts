/**
 * Everything after PLUGIN belongs to the plugin, as with `node`, `env`, `timeout` or
 * `docker run`: `vmre check ./myvm -version x` passes `-version x` to the plugin, where a
 * plain flag parser would read `-version` as vmre's own. The command line is rewritten
 * before parsing: vmre's flags stay in front of PLUGIN, and a `--` goes right after it.
 */

/** vmre's flags that take a value as the next argument (`--flag value`; `--flag=value` needs nothing). */
export const VALUE_FLAGS: ReadonlySet<string> = new Set([
  "--name",
  "--protocol",
  "--handshake-timeout",
  "--stop-timeout",
  "--env-name",
  "--env",
  "--expect-sha256",
  "--call-timeout",
  "--memory-limit",
  "--pids-limit",
  "--cpu-limit",
  "--genesis",
  "--config",
  "--db",
  "--until-height",
  "--aliases",
  "--listen",
  "--http",
  "--metrics",
  "--max-restarts",
  "--min-uptime",
  "--log-level",
  "--log-format",
  "--completions",
  "--out"
])

/** The subcommands whose first positional argument is a plugin. */
const PLUGIN_COMMANDS: ReadonlySet<string> = new Set(["check", "run"])

/** `args` (without node and the script) with `--` inserted right after the plugin's path. */
export const separate = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  let i = 0
  let command: string | undefined
  for (; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") return args
    if (arg.startsWith("-")) {
      if (!arg.includes("=") && VALUE_FLAGS.has(arg)) i++
      continue
    }
    if (command === undefined) {
      if (!PLUGIN_COMMANDS.has(arg)) return args
      command = arg
      continue
    }
    // The plugin's path: what follows is the plugin's.
    if (i === args.length - 1 || args[i + 1] === "--") return args
    return [...args.slice(0, i + 1), "--", ...args.slice(i + 1)]
  }
  return args
}
