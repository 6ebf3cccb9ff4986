/**
 * payload-chain's genesis (`genesis_bytes`) and config (`config_bytes`): JSON documents,
 * decoded with Schema. Both may be empty: every field has a default.
 *
 * genesis: { "timestamp": "2025-01-01T00:00:00.000Z", "message": "hello" }
 *   Every node of a chain must use the same genesis: it determines the genesis block id.
 * config:  {
 *   "maxPayloadBytes": 1024,        // a larger payload is refused (mempool and verify)
 *   "maxPayloadsPerBlock": 64,
 *   "maxFutureMillis": 10000,       // how far a block's timestamp may be ahead of our clock
 *   "autoPayload": { "intervalMillis": 1000, "bytes": 32 }   // or null: no generator
 * }
 */
import { Effect, Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

export const AutoPayload = Schema.Struct({
  intervalMillis: PositiveInt,
  bytes: PositiveInt
})

export const Config = Schema.Struct({
  maxPayloadBytes: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1024))),
  maxPayloadsPerBlock: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(64))),
  maxFutureMillis: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(10_000))),
  autoPayload: Schema.NullOr(AutoPayload).pipe(Schema.withDecodingDefaultKey(Effect.succeed(null)))
})
export type Config = typeof Config.Type

export const Genesis = Schema.Struct({
  timestamp: Schema.String.pipe(Schema.withDecodingDefaultKey(Effect.succeed("1970-01-01T00:00:00.000Z"))),
  message: Schema.String.pipe(Schema.withDecodingDefaultKey(Effect.succeed("payload-chain genesis")))
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

export const decodeGenesis = (bytes: Uint8Array): Effect.Effect<Genesis, InvalidDocument> =>
  decodeJson(Genesis, "genesis", bytes).pipe(
    Effect.filterOrFail(
      (genesis) => Number.isFinite(Date.parse(genesis.timestamp)),
      (genesis) => new InvalidDocument({ document: "genesis", reason: `timestamp ${genesis.timestamp} is not a date` })
    )
  )
