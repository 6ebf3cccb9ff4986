/**
 * Connect's node transport and adapter, loaded when Connect's engine is asked for rather than
 * at start: its HTTP/1.1 client imports `node:http`, and an ESM import of `node:http` loads
 * node's fetch implementation (undici) with it, ~30 ms of a plugin's start that vmre's engine,
 * the default, never needs.
 */
import { Effect } from "effect"

type ConnectNodeModule = typeof import("@connectrpc/connect-node")

let loaded: Promise<ConnectNodeModule> | undefined

/** `@connectrpc/connect-node`, imported once. */
export const load: Effect.Effect<ConnectNodeModule> = Effect.promise(() => (loaded ??= import("@connectrpc/connect-node")))
