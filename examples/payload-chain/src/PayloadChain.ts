/**
 * payload-chain: a small but real chain, written with @vmre/plugin.
 *
 * Its blocks carry payloads (opaque byte strings). Payloads reach the mempool by AppGossip
 * from peers, by `submit` (an in-process API), or from the optional generator configured in
 * `config_bytes`. BuildBlock takes mempool payloads that the preferred chain does not
 * include yet. A payload is included in the accepted chain at most once.
 *
 * Verify rules (their parameters come from the genesis, which all nodes share): the parent is
 * the last accepted block or a verified (processing) block; height = parent's + 1;
 * timestamp ≥ parent's and at most `maxFutureMillis` ahead of our clock;
 * `minPayloadsPerBlock` to `maxPayloadsPerBlock` payloads of at most `maxPayloadBytes` each,
 * none repeated in the block, none already in the accepted chain or in a processing ancestor.
 *
 * With the node's services (at `server_addr`): each payload that did not come from a peer is
 * gossiped through the node's app sender; a peer's AppRequest "status" is answered with the
 * height and last accepted block; the node signs a warp message committing to each accepted
 * block (its id as payload), and the latest signature is in the health report. Its HTTP API
 * (`Api.ts`) serves the status and a JSON-RPC method to submit a payload.
 *
 * State in the node's database (survives restarts; one atomic batch per accepted block):
 *   "lastAccepted"      → id of the last accepted block
 *   "b:" ++ id          → bytes of an accepted block
 *   "h:" ++ u64(height) → id of the accepted block at that height
 *   "p:" ++ sha256(p)   → u64 height of the accepted block that carries payload p
 */
import { Block as BlockHelpers, Id, VmDefinition } from "@vmre/plugin"
import type { Database as Rpcdb } from "@vmre/rpcdb"
import { Clock, Effect, Metric, Option, Ref, Schedule, Schema, type Scope } from "effect"
import * as Api from "./Api.ts"
import * as Codec from "./Codec.ts"
import { type Config, decodeConfig, decodeGenesis, type Genesis } from "./Config.ts"

type Database = Rpcdb.Database

export const VERSION = "payload-chain/0.1.0"

export interface PayloadBlock extends VmDefinition.Block {
  readonly timestamp: Date
  readonly payloads: ReadonlyArray<Uint8Array>
}

/** A block failed a verify rule; the message says which. */
export class InvalidBlock extends Schema.TaggedError<InvalidBlock>()("InvalidBlock", {
  block: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid block ${this.block}: ${this.reason}`
  }
}

/** A payload the mempool does not take. */
export class PayloadRefused extends Schema.TaggedError<PayloadRefused>()("PayloadRefused", {
  reason: Schema.String
}) {
  override get message() {
    return `payload refused: ${this.reason}`
  }
}

export class NothingToBuild extends Schema.TaggedError<NothingToBuild>()("NothingToBuild", {}) {
  override get message() {
    return "nothing to build: the mempool has no payload the preferred chain lacks"
  }
}

export class NotInitialized extends Schema.TaggedError<NotInitialized>()("NotInitialized", {}) {
  override get message() {
    return "payload-chain is not initialized"
  }
}

/** The VM plus what a demo or a test wants beyond vm.VM. */
export interface PayloadChainVm extends VmDefinition.VmDefinition<PayloadBlock> {
  /** Adds a payload to the mempool (as AppGossip does). */
  readonly submit: (payload: Uint8Array) => Effect.Effect<void, PayloadRefused | NotInitialized>
  readonly mempoolSize: Effect.Effect<number>
}

const mempoolSize = Metric.gauge("payload_chain_mempool_payloads", { description: "Payloads waiting in the mempool" })
const payloadsAccepted = Metric.counter("payload_chain_payloads_accepted_total", {
  description: "Payloads in accepted blocks",
  incremental: true
})

const utf8 = (text: string) => new TextEncoder().encode(text)
const KEY_LAST_ACCEPTED = utf8("lastAccepted")
const blockKey = (id: Uint8Array) => Codec.concat(utf8("b:"), id)
const heightKey = (height: bigint) => Codec.concat(utf8("h:"), Codec.u64(height))
const payloadKey = (payload: Uint8Array) => Codec.concat(utf8("p:"), Codec.payloadId(payload))

/** What the VM knows once initialized. */
interface Chain {
  readonly db: Database
  /** The chain's rules (from the genesis). */
  readonly rules: Genesis
  readonly notify: VmDefinition.InitializeContext["notify"]
  /** The node's services: gossip, warp signatures. */
  readonly node: VmDefinition.InitializeContext["node"]
  /** The session's scope: background work (gossip, signing) lives as long as the session. */
  readonly scope: Scope.Scope
  lastAccepted: PayloadBlock
  /** The node's warp signature over the last accepted block's id, once it came back. */
  latestWarp: { readonly block: string; readonly height: bigint; readonly signature: Uint8Array } | undefined
  preferred: Uint8Array
  /** Verified, undecided blocks by hex id. */
  readonly processing: Map<string, PayloadBlock>
  /** Pending payloads by hex payload id, in arrival order. */
  readonly mempool: Map<string, Uint8Array>
}

export const make: Effect.Effect<PayloadChainVm> = Effect.gen(function*() {
  const chainRef = yield* Ref.make<Option.Option<Chain>>(Option.none())
  const chain = Effect.flatMap(Ref.get(chainRef), (c) => Option.match(c, {
    onNone: () => Effect.fail(new NotInitialized()),
    onSome: Effect.succeed
  }))

  /** A block object over decoded data; its decisions act on `c`. */
  const blockOf = (bytes: Uint8Array, data: Codec.BlockData): PayloadBlock => {
    const id = Id.sha256(bytes)
    const name = `${Id.toString(id)}@${data.height}`
    const invalid = (reason: string) => new InvalidBlock({ block: name, reason })

    const verify = Effect.gen(function*() {
      const c = yield* chain
      if (data.height <= c.lastAccepted.height) {
        return yield* invalid(`height ${data.height} is not above the last accepted height ${c.lastAccepted.height}`)
      }
      const parent = c.processing.get(Id.toHex(data.parentId)) ??
        (Id.equals(data.parentId, c.lastAccepted.id) ? c.lastAccepted : undefined)
      if (parent === undefined) {
        return yield* invalid(`parent ${Id.toString(data.parentId)} is neither the last accepted block nor verified`)
      }
      if (data.height !== parent.height + 1n) {
        return yield* invalid(`height ${data.height} does not follow the parent's ${parent.height}`)
      }
      if (data.timestampMillis < parent.timestamp.getTime()) {
        return yield* invalid(`timestamp ${new Date(data.timestampMillis).toISOString()} is before the parent's`)
      }
      const now = yield* Clock.currentTimeMillis
      if (data.timestampMillis > now + c.rules.maxFutureMillis) {
        return yield* invalid(`timestamp ${new Date(data.timestampMillis).toISOString()} is too far in the future`)
      }
      if (data.payloads.length < c.rules.minPayloadsPerBlock) {
        return yield* invalid(`${data.payloads.length} payloads (at least ${c.rules.minPayloadsPerBlock})`)
      }
      if (data.payloads.length > c.rules.maxPayloadsPerBlock) {
        return yield* invalid(`${data.payloads.length} payloads (at most ${c.rules.maxPayloadsPerBlock})`)
      }
      const seen = new Set<string>()
      const inAncestors = processingPayloads(c, parent.id)
      for (const payload of data.payloads) {
        if (payload.length > c.rules.maxPayloadBytes) {
          return yield* invalid(`a payload of ${payload.length} bytes (at most ${c.rules.maxPayloadBytes})`)
        }
        const key = Id.toHex(Codec.payloadId(payload))
        if (seen.has(key) || inAncestors.has(key)) return yield* invalid("a payload is repeated")
        seen.add(key)
        if (yield* c.db.has(payloadKey(payload))) return yield* invalid("a payload is already accepted")
      }
      c.processing.set(Id.toHex(id), block)
    })

    const accept = Effect.gen(function*() {
      const c = yield* chain
      if (!Id.equals(data.parentId, c.lastAccepted.id)) {
        return yield* invalid("accepted out of order: its parent is not the last accepted block")
      }
      yield* c.db.writeBatch([
        { key: blockKey(id), value: bytes },
        { key: heightKey(data.height), value: id },
        { key: KEY_LAST_ACCEPTED, value: id },
        ...data.payloads.map((payload) => ({ key: payloadKey(payload), value: Codec.u64(data.height) }))
      ])
      c.lastAccepted = block
      c.processing.delete(Id.toHex(id))
      for (const payload of data.payloads) c.mempool.delete(Id.toHex(Codec.payloadId(payload)))
      yield* Metric.update(payloadsAccepted, data.payloads.length)
      yield* Metric.update(mempoolSize, c.mempool.size)
      yield* Effect.logInfo(`accepted block ${name} with ${data.payloads.length} payload(s)`)
      // The node signs a warp message committing to the block (its id as the payload), in the
      // background: acceptance never waits for the node.
      yield* c.node.warpSigner.sign(id).pipe(
        Effect.flatMap((signature) =>
          Effect.sync(() => {
            if (c.latestWarp === undefined || c.latestWarp.height < data.height) {
              c.latestWarp = { block: Id.toString(id), height: data.height, signature }
            }
          })
        ),
        Effect.catch((error) => Effect.logDebug(`no warp signature for ${name}: ${error.message}`)),
        Effect.forkIn(c.scope)
      )
    })

    const reject = Effect.gen(function*() {
      const c = yield* chain
      c.processing.delete(Id.toHex(id))
      // Its payloads stay in (or were never taken out of) the mempool: build again if any.
      yield* notifyIfBuildable(c)
    })

    const block: PayloadBlock = {
      id,
      parentId: data.parentId,
      height: data.height,
      timestamp: new Date(data.timestampMillis),
      bytes,
      payloads: data.payloads,
      verify,
      accept,
      reject
    }
    return block
  }

  const parse = (bytes: Uint8Array): Effect.Effect<PayloadBlock, Codec.MalformedBlock> => {
    const data = Codec.decode(bytes)
    return data instanceof Codec.MalformedBlock ? Effect.fail(data) : Effect.succeed(blockOf(bytes, data))
  }

  /** Payload ids carried by the processing blocks from `tip` down to the last accepted block. */
  const processingPayloads = (c: Chain, tip: Uint8Array): Set<string> => {
    const ids = new Set<string>()
    let block = c.processing.get(Id.toHex(tip))
    while (block !== undefined) {
      for (const payload of block.payloads) ids.add(Id.toHex(Codec.payloadId(payload)))
      block = c.processing.get(Id.toHex(block.parentId))
    }
    return ids
  }

  const buildable = (c: Chain): Array<Uint8Array> => {
    const taken = processingPayloads(c, c.preferred)
    return [...c.mempool].filter(([key]) => !taken.has(key)).map(([, payload]) => payload)
  }

  const notifyIfBuildable = (c: Chain) => (buildable(c).length > 0 ? c.notify("BuildBlock") : Effect.void)

  /** Adds a payload; one that did not come from a peer is gossiped to the node's peers. */
  const addToMempool = (c: Chain, payload: Uint8Array, fromPeer = false): Effect.Effect<void, PayloadRefused> =>
    Effect.gen(function*() {
      if (payload.length === 0) return yield* new PayloadRefused({ reason: "empty" })
      if (payload.length > c.rules.maxPayloadBytes) {
        return yield* new PayloadRefused({ reason: `${payload.length} bytes (at most ${c.rules.maxPayloadBytes})` })
      }
      const key = Id.toHex(Codec.payloadId(payload))
      if (c.mempool.has(key)) return
      const accepted = yield* c.db.has(payloadKey(payload)).pipe(
        Effect.mapError((error) => new PayloadRefused({ reason: error.message }))
      )
      if (accepted) return yield* new PayloadRefused({ reason: "already accepted" })
      c.mempool.set(key, payload)
      yield* Metric.update(mempoolSize, c.mempool.size)
      yield* c.notify("BuildBlock")
      if (!fromPeer) {
        yield* c.node.appSender.sendAppGossip(payload, { validators: 8 }).pipe(
          Effect.catch((error) => Effect.logDebug(`payload not gossiped: ${error.message}`)),
          Effect.forkIn(c.scope)
        )
      }
    })

  const getBlock = (id: Uint8Array): Effect.Effect<PayloadBlock, unknown> =>
    Effect.gen(function*() {
      const c = yield* chain
      const processing = c.processing.get(Id.toHex(id))
      if (processing !== undefined) return processing
      if (Id.equals(id, c.lastAccepted.id)) return c.lastAccepted
      const bytes = yield* c.db.get(blockKey(id))
      if (Option.isNone(bytes)) return yield* new VmDefinition.NotFound({ subject: `block ${Id.toString(id)}` })
      return yield* parse(bytes.value)
    })

  /** The generator of `config.autoPayload`: a numbered payload every interval. */
  const generate = (c: Chain, auto: NonNullable<Config["autoPayload"]>) =>
    Effect.gen(function*() {
      let n = 0
      yield* Effect.suspend(() => {
        n++
        // The number first: a payload cut to a few bytes must still differ from the last one.
        const head = utf8(`#${n} auto payload at ${new Date().toISOString()} `)
        const payload = new Uint8Array(Math.max(auto.bytes, 1))
        payload.set(head.subarray(0, payload.length))
        for (let i = head.length; i < payload.length; i++) payload[i] = 0x2e
        return Effect.ignore(addToMempool(c, payload))
      }).pipe(Effect.repeat(Schedule.spaced(auto.intervalMillis)))
    })

  const initialize = (context: VmDefinition.InitializeContext): Effect.Effect<PayloadBlock, unknown, Scope.Scope> =>
    Effect.gen(function*() {
      const config = yield* decodeConfig(context.configBytes)
      const genesisDoc = yield* decodeGenesis(context.genesisBytes)
      const db = context.database
      const genesisBytes = Codec.encode({
        parentId: Id.empty,
        height: 0n,
        timestampMillis: Date.parse(genesisDoc.timestamp),
        payloads: [utf8(genesisDoc.message)]
      })
      const genesisId = Id.sha256(genesisBytes)

      let lastAccepted: PayloadBlock
      const stored = yield* db.get(KEY_LAST_ACCEPTED)
      if (Option.isNone(stored)) {
        yield* db.writeBatch([
          { key: blockKey(genesisId), value: genesisBytes },
          { key: heightKey(0n), value: genesisId },
          { key: KEY_LAST_ACCEPTED, value: genesisId }
        ])
        lastAccepted = yield* parse(genesisBytes)
        yield* Effect.logInfo(`created genesis block ${Id.toString(genesisId)}`)
      } else {
        const atZero = yield* db.get(heightKey(0n))
        if (Option.isSome(atZero) && !Id.equals(atZero.value, genesisId)) {
          return yield* Effect.fail(
            new Error(`the database holds another chain (genesis ${Id.toString(atZero.value)}, expected ${Id.toString(genesisId)})`)
          )
        }
        const bytes = yield* db.get(blockKey(stored.value))
        if (Option.isNone(bytes)) {
          return yield* Effect.fail(new Error(`the last accepted block ${Id.toString(stored.value)} is missing`))
        }
        lastAccepted = yield* parse(bytes.value)
        yield* Effect.logInfo(`resumed at block ${BlockHelpers.describe(lastAccepted)}`)
      }

      const c: Chain = {
        db,
        rules: genesisDoc,
        notify: context.notify,
        node: context.node,
        scope: yield* Effect.scope,
        latestWarp: undefined,
        lastAccepted,
        preferred: lastAccepted.id,
        processing: new Map(),
        mempool: new Map()
      }
      yield* Ref.set(chainRef, Option.some(c))
      // Runs until Shutdown: the scope of initialize is the VM's session.
      if (config.autoPayload !== null) yield* Effect.forkScoped(generate(c, config.autoPayload))
      return lastAccepted
    })

  const vm: PayloadChainVm = {
    initialize,
    setState: (state) => Effect.logDebug(`state ${state}`),
    buildBlock: () =>
      Effect.gen(function*() {
        const c = yield* chain
        const parent = c.processing.get(Id.toHex(c.preferred)) ??
          (Id.equals(c.preferred, c.lastAccepted.id) ? c.lastAccepted : undefined)
        if (parent === undefined) return yield* Effect.fail(new Error("the preferred block is unknown"))
        const candidates = buildable(c)
        if (candidates.length === 0 && c.rules.minPayloadsPerBlock > 0) return yield* new NothingToBuild()
        const payloads = candidates.slice(0, c.rules.maxPayloadsPerBlock)
        const now = yield* Clock.currentTimeMillis
        const bytes = Codec.encode({
          parentId: parent.id,
          height: parent.height + 1n,
          timestampMillis: Math.max(now, parent.timestamp.getTime()),
          payloads
        })
        // More than one block's worth waiting: ask the engine to build again.
        if (candidates.length > payloads.length) yield* c.notify("BuildBlock")
        return yield* parse(bytes)
      }),
    parseBlock: parse,
    getBlock,
    setPreference: (id) =>
      Effect.gen(function*() {
        const c = yield* chain
        c.preferred = id
        yield* notifyIfBuildable(c)
      }),
    lastAccepted: Effect.map(chain, (c) => c.lastAccepted.id),
    getBlockIdAtHeight: (height) =>
      Effect.gen(function*() {
        const c = yield* chain
        const id = yield* c.db.get(heightKey(height))
        if (Option.isNone(id)) return yield* new VmDefinition.NotFound({ subject: `an accepted block at height ${height}` })
        return id.value
      }),
    health: Effect.map(chain, (c) => ({
      lastAccepted: Id.toString(c.lastAccepted.id),
      lastAcceptedHeight: c.lastAccepted.height.toString(),
      preferred: Id.toString(c.preferred),
      processingBlocks: c.processing.size,
      mempoolPayloads: c.mempool.size,
      ...(c.latestWarp === undefined ? {} : {
        latestWarp: {
          block: c.latestWarp.block,
          height: c.latestWarp.height.toString(),
          signature: Buffer.from(c.latestWarp.signature).toString("hex")
        }
      })
    })),
    version: VERSION,
    shutdown: Effect.gen(function*() {
      const c = yield* Ref.get(chainRef)
      yield* Ref.set(chainRef, Option.none())
      if (Option.isSome(c)) yield* Effect.logInfo(`shut down at block ${BlockHelpers.describe(c.value.lastAccepted)}`)
    }),
    appGossip: ({ msg }) =>
      Effect.gen(function*() {
        const c = yield* chain
        // A bad payload from a peer is the peer's problem, not an error of this call.
        yield* addToMempool(c, msg, true).pipe(Effect.catch((error) => Effect.logDebug(error.message)))
      }),
    // A peer asks "status": the answer is {"height", "lastAccepted"} as JSON; anything else an
    // app error (code 1).
    appRequest: ({ nodeId, request, requestId }) =>
      Effect.gen(function*() {
        const c = yield* chain
        if (new TextDecoder().decode(request) !== "status") {
          return yield* c.node.appSender.sendAppError(nodeId, requestId, 1, "unknown request: payload-chain answers \"status\"")
        }
        const status = { height: c.lastAccepted.height.toString(), lastAccepted: Id.toString(c.lastAccepted.id) }
        yield* c.node.appSender.sendAppResponse(nodeId, requestId, utf8(JSON.stringify(status)))
      }).pipe(
        // An error from AppRequest is fatal to a Go node's engine: a node that cannot take the
        // answer is logged, not reported.
        Effect.catchTag("NodeServiceError", (error) => Effect.logWarning(`cannot answer request ${requestId}: ${error.message}`))
      ),
    submit: (payload) => Effect.flatMap(chain, (c) => addToMempool(c, payload)),
    mempoolSize: Ref.get(chainRef).pipe(Effect.map(Option.match({ onNone: () => 0, onSome: (c) => c.mempool.size }))),
    createHandlers: Effect.sync(() => Api.handlers(vm))
  }
  return vm
})
