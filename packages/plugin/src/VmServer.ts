/**
 * `vm.VM` over a {@link VmDefinition}: the gRPC service a VM plugin serves to the node.
 *
 * What the SDK does for every VM, as avalanchego's `rpcchainvm.VMServer` (and the
 * `chain.State` helper around it) does for Go VMs:
 * - Version and Shutdown are answered before Initialize (avalanchego calls just those two
 *   when it registers a plugin); any other call before Initialize fails with
 *   FAILED_PRECONDITION, and after Shutdown with `ERROR_CLOSED` / "closed";
 * - at Initialize it connects to `db_server_addr` (an rpcdb client) and hands the VM the
 *   database; the connection is closed at Shutdown;
 * - verified blocks stay retrievable by id until accepted or rejected (BlockAccept and
 *   BlockReject carry only the id; BlockVerify carries bytes, which are parsed again);
 * - `NotFound` travels as gRPC OK with `err = ERROR_NOT_FOUND` (GetBlock,
 *   GetBlockIDAtHeight), `Closed`/`DatabaseClosed` as `ERROR_CLOSED`; every other failure
 *   is a gRPC error status whose text is the error's message (never an empty UNKNOWN);
 * - IDs in requests must be 32 bytes (INVALID_ARGUMENT otherwise), and IDs, heights and
 *   timestamps of the VM's blocks are checked before they go out;
 * - GetAncestors, BatchedParseBlock, Gather (Effect metrics as Prometheus families), Health
 *   (JSON `{"database": …, "health": …}`), the state-sync RPCs (without a `stateSync` VM:
 *   `ERROR_STATE_SYNC_NOT_IMPLEMENTED`, and `enabled = false` for StateSyncEnabled) and
 *   WaitForEvent (default: the VM's `notify` calls), interrupted at Shutdown;
 * - the luxd `status` of ParseBlock/GetBlock answers.
 *
 * Consensus calls (Initialize, SetState, Shutdown, blocks, height index, state sync) run
 * one at a time, in arrival order, as the Go node's chain lock runs them; Version, Health,
 * Gather, WaitForEvent, peer and app messages run concurrently with them.
 *
 * The parts live in `vmserver/`: the session state, the block cache, the event mailbox, the
 * failure mapping, the one `handle` helper, and the RPCs in four groups.
 */
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect"
import { VM } from "@vmre/proto/vm/vm_pb"
import { type Database, RpcDbClient } from "@vmre/rpcdb"
import { Effect, Semaphore, type Scope } from "effect"
import type { Block } from "./Block.ts"
import type { VmDefinition } from "./VmDefinition.ts"
import * as BlockCache from "./vmserver/BlockCache.ts"
import { blockRpcs } from "./vmserver/BlockRpcs.ts"
import * as EventMailbox from "./vmserver/EventMailbox.ts"
import * as Handle from "./vmserver/Handle.ts"
import { messageRpcs } from "./vmserver/MessageRpcs.ts"
import * as Session from "./vmserver/Session.ts"
import { sessionRpcs } from "./vmserver/SessionRpcs.ts"
import { stateSyncRpcs } from "./vmserver/StateSyncRpcs.ts"

export interface VmServerOptions {
  /**
   * Opens the database the VM gets at Initialize, from `db_server_addr`. Default: an rpcdb
   * client of that address (`@vmre/rpcdb` RpcDbClient), closed at Shutdown.
   */
  readonly connectDatabase?: (address: string) => Effect.Effect<Database.Database, unknown, Scope.Scope>
}

export interface VmServer {
  /** The Connect implementation of `vm.VM`. */
  readonly service: ServiceImpl<typeof VM>
  /** Registers `vm.VM` on a Connect router. */
  readonly routes: (router: ConnectRouter) => void
  /** Completes when the Shutdown RPC has been received (before the VM's shutdown runs). */
  readonly shutdownReceived: Effect.Effect<void>
  /** Synchronous view of the same, for signal handlers. */
  readonly isShutdownReceived: () => boolean
}

/**
 * Builds the `vm.VM` service for `vm`. The server's scope owns the database connection
 * and the VM's fibers; the Effect context it is made in (logger, metric registry, …) is the
 * one every VM effect runs in.
 */
export const make = <B extends Block>(
  vm: VmDefinition<B>,
  options: VmServerOptions = {}
): Effect.Effect<VmServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const lock = yield* Semaphore.make(1)
    const session = yield* Session.make
    const parts = {
      vm,
      session,
      lock,
      handle: Handle.make(context, lock, session),
      blocks: BlockCache.make(vm),
      mailbox: EventMailbox.make(),
      serverScope: yield* Effect.scope,
      connectDatabase: options.connectDatabase ?? RpcDbClient.make
    }
    const service: ServiceImpl<typeof VM> = {
      ...sessionRpcs(parts),
      ...blockRpcs(parts),
      ...messageRpcs(parts),
      ...stateSyncRpcs(parts)
    }
    return {
      service,
      routes: (router: ConnectRouter) => {
        router.service(VM, service)
      },
      shutdownReceived: session.shutdownReceived,
      isShutdownReceived: session.isShutdownReceived
    }
  })
