/**
 * The node's warp signer: signs a chain's unsigned warp messages with the node's BLS12-381
 * key, as avalanchego does (public keys in G1, signatures in G2, the proof-of-possession
 * scheme's signature DST); luxd signs with the basic scheme's DST, so signatures of the two
 * nodes do not cross-verify. The VM gets the compressed public key in `Initialize`.
 */
import { bls12_381 } from "@noble/curves/bls12-381.js"
import { Ids } from "@vmre/wire"
import { Context, Effect, Layer, Schema } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import type { NodeFlavour } from "../NodeFlavour.ts"

const bls = bls12_381.longSignatures

/** The signature DST of each flavour's node. */
export const signatureDst = (flavour: NodeFlavour): string =>
  flavour === "luxd" ? "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_" : "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

/** A warp message the node refuses to sign; the text is what the Go nodes answer. */
export class WarpRefused extends Schema.TaggedError<WarpRefused>()("WarpRefused", { reason: Schema.String }) {
  override get message() {
    return this.reason
  }
}

/** The BLS key file cannot be used. */
export class InvalidSignerKey extends Schema.TaggedError<InvalidSignerKey>()("InvalidSignerKey", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot use the BLS signer key ${this.path}: ${this.reason} (it must hold the 32-byte secret key, big-endian, as staking/signer.key does)`
  }
}

/** A warp message before signing: what the node signs. */
export interface UnsignedMessage {
  readonly networkId: number
  readonly sourceChainId: Uint8Array
  readonly payload: Uint8Array
}

/** The linear codec's bytes of an unsigned message: version 0, network id, source chain, payload (big-endian). */
export const encodeUnsigned = (message: UnsignedMessage): Uint8Array => {
  const out = new Uint8Array(2 + 4 + 32 + 4 + message.payload.length)
  const view = new DataView(out.buffer)
  view.setUint16(0, 0)
  view.setUint32(2, message.networkId)
  out.set(message.sourceChainId, 6)
  view.setUint32(38, message.payload.length)
  out.set(message.payload, 42)
  return out
}

/** The message id: SHA-256 of the unsigned bytes. */
export const messageId = (message: UnsignedMessage): Uint8Array => Ids.sha256(encodeUnsigned(message))

export interface WarpSignerShape {
  /** The node's BLS public key, compressed (48 bytes): `InitializeRequest.public_key`. */
  readonly publicKey: Uint8Array
  /** The same key uncompressed (96 bytes), as validator sets carry it. */
  readonly publicKeyUncompressed: Uint8Array
  /** Signs the unsigned message's bytes: a 96-byte compressed G2 signature. */
  readonly sign: (message: UnsignedMessage) => Effect.Effect<Uint8Array, WarpRefused>
  /** Whether `signature` is this node's over `message` (pairing check with the flavour's DST). */
  readonly verify: (message: UnsignedMessage, signature: Uint8Array) => boolean
}

/** A BLS signature (compressed G2) of `bytes` with `secretKey` under `dst`. */
export const signBytes = (secretKey: Uint8Array, bytes: Uint8Array, dst: string): Uint8Array =>
  bls.sign(bls.hash(bytes, dst), secretKey).toBytes(true)

/** The compressed G1 public key of `secretKey`. */
export const publicKeyOf = (secretKey: Uint8Array): Uint8Array => bls.getPublicKey(secretKey).toBytes(true)

const fromSecret = (secretKey: Uint8Array, flavour: NodeFlavour): WarpSignerShape => {
  const dst = signatureDst(flavour)
  const point = bls.getPublicKey(secretKey)
  const publicKey = point.toBytes(true)
  return {
    publicKey,
    publicKeyUncompressed: point.toBytes(false),
    sign: (message) => Effect.sync(() => signBytes(secretKey, encodeUnsigned(message), dst)),
    verify: (message, signature) => {
      try {
        return bls.verify(signature, bls.hash(encodeUnsigned(message), dst), publicKey)
      } catch {
        return false
      }
    }
  }
}

export class WarpSigner extends Context.Service<WarpSigner, WarpSignerShape>()("@vmre/node/WarpSigner") {
  /** A signer over a 32-byte secret key. */
  static readonly layerKey = (secretKey: Uint8Array, flavour: NodeFlavour = "avalanchego"): Layer.Layer<WarpSigner> =>
    Layer.sync(WarpSigner, () => fromSecret(secretKey, flavour))

  /** A signer over the key in `path` (avalanchego's `staking/signer.key`: 32 raw bytes). */
  static readonly layerFile = (path: string, flavour: NodeFlavour = "avalanchego"): Layer.Layer<WarpSigner, InvalidSignerKey> =>
    Layer.effect(
      WarpSigner,
      Effect.gen(function*() {
        const bytes = yield* Effect.tryPromise({
          try: () => fs.readFile(path),
          catch: (error) => new InvalidSignerKey({ path, reason: String(error) })
        })
        if (bytes.length !== 32) return yield* new InvalidSignerKey({ path, reason: `it holds ${bytes.length} bytes` })
        return yield* Effect.try({
          try: () => fromSecret(new Uint8Array(bytes), flavour),
          catch: (error) => new InvalidSignerKey({ path, reason: String(error) })
        })
      })
    )

  /** A fresh random key for this process: dev chains and tests. */
  static readonly layerEphemeral = (flavour: NodeFlavour = "avalanchego"): Layer.Layer<WarpSigner> =>
    Layer.sync(WarpSigner, () => {
      // A secret key must be a non-zero scalar below the group order; keygen reduces a 48-byte seed.
      const { secretKey } = bls.keygen(randomBytes(48))
      return fromSecret(secretKey, flavour)
    })
}
