/**
 * payload-chain's genesis (`genesis_bytes`) and config (`config_bytes`). Both may be empty:
 * every field has a default.
 *
 * The genesis holds what every node of the chain must agree on: the genesis block's
 * timestamp and message, and the validity rules (a rule in the per-node config would let two
 * nodes disagree about a block). A genesis that is not JSON is taken as the message itself,
 * with the default rules.
 *
 *   { "timestamp": "2025-01-01T00:00:00.000Z", "message": "hello",
 *     "maxPayloadBytes": 1024,        // a larger payload is refused (mempool and verify)
 *     "minPayloadsPerBlock": 1,       // 0 allows empty blocks (built when the mempool is empty)
 *     "maxPayloadsPerBlock": 64,
 *     "maxFutureMillis": 10000 }      // how far a block's timestamp may be ahead of our clock
 *
 * The config (JSON) holds what is local to one node:
 *
 *   { "autoPayload": { "intervalMillis": 1000, "bytes": 32 } }   // the default; null: no generator
 *
 * The generator is on by default so that the chain grows by itself (one block a second) under
 * `vmre chain` with no input at all.
 */
import { Effect, Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const AutoPayload = Schema.Struct({
  intervalMillis: PositiveInt,
  bytes: PositiveInt
})

export const Config = Schema.Struct({
  autoPayload: Schema.NullOr(AutoPayload).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed({ intervalMillis: 1000, bytes: 32 }))
  )
})
export type Config = typeof Config.Type

export const Genesis = Schema.Struct({
  timestamp: Schema.String.pipe(Schema.withDecodingDefaultKey(Effect.succeed("1970-01-01T00:00:00.000Z"))),
  message: Schema.String.pipe(Schema.withDecodingDefaultKey(Effect.succeed("payload-chain genesis"))),
  maxPayloadBytes: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1024))),
  minPayloadsPerBlock: NonNegativeInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1))),
  maxPayloadsPerBlock: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(64))),
  maxFutureMillis: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(10_000)))
})
export type Genesis = typeof Genesis.Type

export class InvalidDocument extends Schema.TaggedError<InvalidDocument>()("InvalidDocument", {
  document: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid ${this.document}: ${this.reason}`
  }
}

const decodeJson = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  document: string,
  bytes: Uint8Array
): Effect.Effect<S["Type"], InvalidDocument> => {
  const text = new TextDecoder().decode(bytes).trim()
  return Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text === "" ? "{}" : text).pipe(
    Effect.mapError((error) => new InvalidDocument({ document, reason: error.message }))
  )
}

export const decodeConfig = (bytes: Uint8Array): Effect.Effect<Config, InvalidDocument> =>
  decodeJson(Config, "config", bytes)

/** The genesis document: JSON, or any other bytes as the genesis message. */
export const decodeGenesis = (bytes: Uint8Array): Effect.Effect<Genesis, InvalidDocument> => {
  const text = new TextDecoder().decode(bytes).trim()
  let isJson = true
  try {
    JSON.parse(text === "" ? "{}" : text)
  } catch {
    isJson = false
  }
  const document = isJson ? bytes : new TextEncoder().encode(JSON.stringify({ message: text }))
  return decodeJson(Genesis, "genesis", document).pipe(
    Effect.filterOrFail(
      (genesis) => Number.isFinite(Date.parse(genesis.timestamp)),
      (genesis) => new InvalidDocument({ document: "genesis", reason: `timestamp ${genesis.timestamp} is not a date` })
    ),
    Effect.filterOrFail(
      (genesis) => genesis.minPayloadsPerBlock <= genesis.maxPayloadsPerBlock,
      () => new InvalidDocument({ document: "genesis", reason: "minPayloadsPerBlock exceeds maxPayloadsPerBlock" })
    )
  )
}
