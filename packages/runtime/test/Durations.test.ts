import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option } from "effect"
import * as Durations from "../src/Durations.ts"

describe("Durations", () => {
  it("parses Go-style and spelled-out durations", () => {
    const millis = (text: string) => Option.map(Durations.parse(text), Duration.toMillis)
    expect(millis("5s")).toEqual(Option.some(5_000))
    expect(millis("500ms")).toEqual(Option.some(500))
    expect(millis("1m30s")).toEqual(Option.some(90_000))
    expect(millis("2 seconds")).toEqual(Option.some(2_000))
    expect(millis("500 millis")).toEqual(Option.some(500))
    for (const bad of ["5", "", "abc", "0s", "-5s"]) expect(Durations.parse(bad), bad).toEqual(Option.none())
  })

  it.effect("reads VMRE_* durations from the environment, with a default", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        Durations.config("VMRE_X", Duration.seconds(5)).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))
        )
      expect(Duration.toMillis(yield* read({ VMRE_X: "250ms" }))).toBe(250)
      expect(Duration.toMillis(yield* read({}))).toBe(5_000)
      const error = yield* Effect.flip(read({ VMRE_X: "soon" }))
      expect(String(error)).toContain(Durations.HINT)
    }))
})
