/** What every group of RPCs of the server works with. */
import type { Database } from "@vmre/rpcdb"
import type { Effect, Scope, Semaphore } from "effect"
import type { Block } from "../Block.ts"
import type { VmDefinition } from "../VmDefinition.ts"
import type { BlockCache } from "./BlockCache.ts"
import type { EventMailbox } from "./EventMailbox.ts"
import type { Handle } from "./Handle.ts"
import type { Session } from "./Session.ts"

export interface ServerParts<B extends Block> {
  readonly vm: VmDefinition<B>
  readonly handle: Handle
  readonly session: Session
  readonly blocks: BlockCache<B>
  readonly mailbox: EventMailbox
  /** The consensus lock (Shutdown takes it after marking itself received). */
  readonly lock: Semaphore.Semaphore
  /** Owns each session's scope. */
  readonly serverScope: Scope.Scope
  readonly connectDatabase: (address: string) => Effect.Effect<Database.Database, unknown, Scope.Scope>
}
