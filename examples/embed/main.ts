/**
 * A node that embeds vmre: launch a VM plugin as a layer, talk to it through the typed
 * client, and let the scope stop it (Shutdown, SIGTERM, grace, SIGKILL) when the program ends.
 *
 *   npx node examples/embed/main.ts [PLUGIN]     (default: the example payload-chain VM)
 */
import { NodeRuntime } from "@effect/platform-node"
import { ChainVm, CurrentVm, Lifecycle, VmRuntime } from "@vmre/runtime"
import { Duration, Effect, Layer, Stream } from "effect"
import { fileURLToPath } from "node:url"

const plugin = process.argv[2] ?? fileURLToPath(new URL("../payload-chain/bin/payload-chain", import.meta.url))

const program = Effect.gen(function*() {
  const vm = yield* CurrentVm
  const client = yield* ChainVm
  yield* Effect.log(
    `${vm.name}: pid ${vm.pid}, vm.VM at ${vm.vmAddr}, protocol ${vm.protocolVersion}, ` +
      `handshake in ${Duration.toMillis(vm.handshakeDuration).toFixed(1)} ms`
  )
  yield* Effect.log(`version: ${yield* client.version()}`)
})

// Lifecycle events (Spawned, Ready, Exited, Restarting, ...) are a Stream any part of the node can follow.
const FollowLifecycle = Layer.effectDiscard(
  Effect.gen(function*() {
    const lifecycle = yield* Lifecycle
    yield* lifecycle.events.pipe(
      Stream.runForEach((event) => Effect.log(`lifecycle: ${event._tag}`)),
      Effect.forkScoped
    )
  })
)

// The VM as a layer: launched when the layer is built, stopped when it is released. VmRuntime.layer
// (real processes, configured from VMRE_* env vars) also provides Lifecycle.
const VmLayer = ChainVm.layerNoDeps({ path: plugin, handshakeTimeout: "10 seconds" }).pipe(
  Layer.provide(FollowLifecycle),
  Layer.provideMerge(VmRuntime.layer)
)

NodeRuntime.runMain(program.pipe(Effect.provide(VmLayer)))
