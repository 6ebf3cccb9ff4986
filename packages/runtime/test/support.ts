/** Shared helpers of the runtime tests: the fixture plugin, a capturing logger, process checks. */
import { Effect, Layer, Logger, References } from "effect"
import { fileURLToPath } from "node:url"
import type { LaunchConfig } from "../src/Runtime.ts"

export const fixturePath = fileURLToPath(new URL("./fixtures/plugin.ts", import.meta.url))

/** Launch config for the TypeScript fixture plugin in one of its modes. */
export const fixture = (mode: string, overrides: Partial<LaunchConfig> & { fixtureEnv?: Record<string, string> } = {}) => {
  const { fixtureEnv, ...rest } = overrides
  return {
    // The fixture is a .ts file run by the pinned Node 22 (this process's binary).
    path: process.execPath,
    args: [fixturePath],
    name: `fixture-${mode}`,
    env: { FIXTURE_MODE: mode, ...fixtureEnv },
    ...rest
  } satisfies LaunchConfig
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export interface CapturedLine {
  readonly message: string
  readonly level: string
  readonly annotations: Record<string, unknown>
}

/** A logger that keeps every log entry (message, level, annotations) in `lines`. */
export const captureLogs = () => {
  const lines: Array<CapturedLine> = []
  const logger = Logger.make<unknown, void>(({ fiber, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ message: text, level: logLevel, annotations: { ...fiber.getRef(References.CurrentLogAnnotations) } })
  })
  const layer = Layer.mergeAll(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, "All"))
  return { lines, layer }
}

/** A logger that only counts entries per message prefix, for floods. */
export const countLogs = () => {
  const counts = { lines: 0, last: "" }
  const logger = Logger.make<unknown, void>(({ message }) => {
    counts.lines++
    counts.last = Array.isArray(message) ? String(message[0]) : String(message)
  })
  return { counts, layer: Logger.layer([logger]) }
}

export const waitUntil = (predicate: () => boolean, timeoutMillis = 5_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (!predicate()) {
      if (Date.now() > deadline) return false
      yield* Effect.sleep("20 millis")
    }
    return true
  })
