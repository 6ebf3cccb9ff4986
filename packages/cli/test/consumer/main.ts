/**
 * A node author's program, as in the README: launch a plugin with the installed runtime, ask
 * its Version through the typed client, and stop it when the layer is released. Prints one
 * JSON line. Run by the consumer test from a project that installed vmre's tarballs.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ChainVm, CurrentVm } from "@vmre/runtime"
import { Effect } from "effect"

const plugin = process.argv[2]
if (plugin === undefined) throw new Error("usage: node main.ts PLUGIN")

const program = Effect.gen(function*() {
  const vm = yield* CurrentVm
  const client = yield* ChainVm
  const version = yield* client.version()
  console.log(JSON.stringify({ pid: vm.pid, protocolVersion: vm.protocolVersion, version }))
})

NodeRuntime.runMain(program.pipe(Effect.provide(ChainVm.layer({ path: plugin, handshakeTimeout: "30 seconds" }))))
