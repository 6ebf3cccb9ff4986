/**
 * Durations as people type them for a node: Go-style `5s`, `500ms`, `1m30s` (parsed by the
 * parse-duration package), or effect's own `500 millis` / `2 seconds`. A bare number has no
 * unit and is refused.
 */
import parseMillis from "parse-duration"
import { Config, Duration, Option, Schema } from "effect"

export const parse = (text: string): Option.Option<Duration.Duration> => {
  if (!/[a-z]/i.test(text)) return Option.none()
  const millis = parseMillis(text)
  const duration = millis !== null && millis !== undefined ?
    Option.some(Duration.millis(millis)) :
    Duration.fromInput(text.trim() as Duration.Input)
  return Option.filter(duration, (d) => Duration.isFinite(d) && Duration.toMillis(d) > 0)
}

export const HINT = "a positive duration with a unit, such as 5s, 500ms, 1m30s or 2 seconds"

const DurationText = Schema.String.check(Schema.makeFilter((text: string) => Option.isSome(parse(text)) || HINT))

/** A duration read from the env var `name`, with a default. */
export const config = (name: string, fallback: Duration.Duration): Config.Config<Duration.Duration> =>
  Config.schema(DurationText, name).pipe(
    Config.map((text) => Option.getOrThrow(parse(text))),
    Config.withDefault(fallback)
  )
