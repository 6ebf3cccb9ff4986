/**
 * `google.protobuf.Timestamp` as the wire allows it: 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999999Z, nanos in [0, 1e9). Go's `timestamppb` refuses anything else,
 * so both sides check before sending and after receiving. Millisecond precision: sub-millisecond
 * nanos are dropped when read.
 */
import { type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt"
import { Result } from "effect"

/** Seconds of 0001-01-01T00:00:00Z. */
export const MIN_SECONDS = -62_135_596_800n
/** Seconds of 9999-12-31T23:59:59Z. */
export const MAX_SECONDS = 253_402_300_799n

/** A valid Timestamp for epoch milliseconds, or why there is none. */
export const fromMillis = (millis: number): Result.Result<Timestamp, string> => {
  if (!Number.isFinite(millis)) return Result.fail("not a valid date")
  const whole = Math.floor(millis)
  const seconds = BigInt(Math.floor(whole / 1000))
  return seconds < MIN_SECONDS || seconds > MAX_SECONDS
    ? Result.fail("outside the range of a protobuf Timestamp (years 1 to 9999)")
    : Result.succeed(timestampFromMs(whole))
}

/** Epoch milliseconds of a received Timestamp, or why it is not a valid one. */
export const toMillis = (value: Timestamp): Result.Result<number, string> =>
  value.seconds < MIN_SECONDS || value.seconds > MAX_SECONDS || value.nanos < 0 || value.nanos > 999_999_999
    ? Result.fail(`not a valid timestamp (seconds ${value.seconds}, nanos ${value.nanos})`)
    : Result.succeed(timestampMs(value))
