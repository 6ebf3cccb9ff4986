/** Shared helpers of the runtime tests: the fixture plugin, a capturing logger, process checks. */
import { Effect, Logger, Stream } from "effect"
import { fileURLToPath } from "node:url"
import { Lifecycle, type LifecycleEvent } from "../src/Lifecycle.ts"
import type { LaunchConfig } from "../src/VmRuntime.ts"

export { captureLogs, type CapturedLine } from "../../../test-support/logs.ts"
export { isAlive } from "../../../test-support/processes.ts"

export const fixturePath = fileURLToPath(new URL("./fixtures/plugin.ts", import.meta.url))

/** Launch config for the TypeScript fixture plugin in one of its modes. */
export const fixture = (mode: string, overrides: Partial<LaunchConfig> & { fixtureEnv?: Record<string, string> } = {}) => {
  const { fixtureEnv, ...rest } = overrides
  return {
    // The fixture is a .ts file run by the pinned Node (this process's binary).
    path: process.execPath,
    args: [fixturePath],
    name: `fixture-${mode}`,
    env: { FIXTURE_MODE: mode, ...fixtureEnv },
    ...rest
  } satisfies LaunchConfig
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

/** Collects lifecycle events from now on into an array. */
export const collectEvents = Effect.gen(function*() {
  const lifecycle = yield* Lifecycle
  const events: Array<LifecycleEvent> = []
  yield* lifecycle.events.pipe(Stream.runForEach((event) => Effect.sync(() => events.push(event))), Effect.forkScoped)
  // Let the subscription start before anything is published.
  yield* Effect.sleep("10 millis")
  return events
})
