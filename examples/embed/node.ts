/**
 * A node built from vmre's node-side layers: a VM registry over a plugin directory, the
 * factory that starts a chain's VM with its own prefixed database, and a chain run on it.
 *
 *   npx node examples/embed/node.ts PLUGIN_DIR [HEIGHT]
 *
 * Registers every plugin of PLUGIN_DIR (each executable named by its VM ID), then runs a chain
 * on the first registered VM until HEIGHT (default 3) is accepted, and prints one JSON line.
 *
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, the node exports its spans there over OTLP/HTTP, and so
 * do its VMs (the runtime passes the OTEL_* variables on): one trace per block, from the node's
 * BuildBlock to the VM's database writes.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Chain, NodeConfig, NodeDatabase, NodeServices, VmFactory, VmRegistry } from "@vmre/node"
import { VmRuntime } from "@vmre/runtime"
import { Ids } from "@vmre/wire"
import { Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const [pluginDir, height = "3"] = process.argv.slice(2)
if (pluginDir === undefined) throw new Error("usage: node node.ts PLUGIN_DIR [HEIGHT]")
// The node's data dir (its store and the chains' data dirs): a temporary one, removed at exit.
const dataDir = mkdtempSync(join(tmpdir(), "vmre-node-"))
process.once("exit", () => rmSync(dataDir, { recursive: true, force: true }))

const program = Effect.gen(function*() {
  const registry = yield* VmRegistry
  const report = yield* registry.report
  const [vm] = report.registered
  if (vm === undefined) return yield* Effect.die(new Error(`no VM registered from ${pluginDir}`))
  // The chain's id would come from the P-chain; here, one derived from the VM's.
  const chainId = Ids.Id.make(Ids.sha256(new TextEncoder().encode(`chain of ${vm.vmId}`)))
  const chain = yield* Chain.run({ chainId, vm: vm.vmId, untilHeight: BigInt(height) })
  const status = yield* chain.done
  console.log(JSON.stringify({
    registered: report.registered.map((r) => r.vmId),
    failed: report.failed.map((f) => f.vmId),
    vmID: vm.vmId,
    height: Number(status.height),
    lastAccepted: status.lastAccepted
  }))
})

// The node: the factory over the registry, the engine, the node's store and who the node is.
const NodeLive = VmFactory.layer().pipe(
  Layer.provideMerge(VmRegistry.layer({ pluginDir })),
  // The services VMs call back (aliases, validators, warp signer, app sender): one node's defaults.
  Layer.provideMerge(NodeServices.layerSingleNode),
  Layer.provideMerge(VmRuntime.layer),
  Layer.provideMerge(NodeDatabase.layerLevel(join(dataDir, "db"))),
  Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: join(dataDir, "chainData") }))
)

const otlp = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
const Tracing = otlp === undefined ? Layer.empty : OtlpTracer.layer({
  url: `${otlp.replace(/\/$/, "")}/v1/traces`,
  resource: { serviceName: process.env["OTEL_SERVICE_NAME"] ?? "vmre-node" }
}).pipe(Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson]))

NodeRuntime.runMain(program.pipe(Effect.scoped, Effect.provide(NodeLive), Effect.provide(Tracing)))
