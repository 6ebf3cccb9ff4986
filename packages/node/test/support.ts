/** Plugin directories of real plugins (each file named by a VM ID), and ids for tests. */
import { Ids } from "@vmre/wire"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { VmRuntime } from "@vmre/runtime"
import { Effect, Layer, Logger } from "effect"
import { NodeConfig } from "../src/NodeConfig.ts"
import { NodeDatabase } from "../src/NodeDatabase.ts"
import * as NodeServices from "../src/services/Defaults.ts"
import { VmFactory } from "../src/VmFactory.ts"
import { VmRegistry } from "../src/VmRegistry.ts"
import { AppNetwork } from "../src/services/AppNetwork.ts"
import { ChainAliases } from "../src/services/ChainAliases.ts"
import { ChainSignals } from "../src/services/ChainSignals.ts"
import { SharedMemory } from "../src/services/SharedMemory.ts"
import { ValidatorSet } from "../src/services/ValidatorSet.ts"
import { WarpSigner } from "../src/services/WarpSigner.ts"

export const payloadChainBin = fileURLToPath(new URL("../../../examples/payload-chain/bin/payload-chain", import.meta.url))
export const fixturePlugin = fileURLToPath(new URL("../../runtime/test/fixtures/plugin.ts", import.meta.url))

/** A VM ID made of one repeated byte, in CB58. */
export const vmIdOf = (byte: number): string => Ids.toString(new Uint8Array(32).fill(byte))
export const chainIdOf = (byte: number): Ids.Id => Ids.Id.make(new Uint8Array(32).fill(byte))

/** A temporary directory, removed with the scope. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(path.join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/**
 * An executable shell script at `dir/name`. A node starts plugins with an empty environment
 * (no PATH), so scripts use absolute paths and shell built-ins only.
 */
export const writeScript = (dir: string, name: string, body: string, mode = 0o755): string => {
  const file = path.join(dir, name)
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, mode)
  return file
}

/** The example VM, started as a node starts it. */
export const payloadChainScript = () => `exec ${payloadChainBin} "$@"`

/** The TypeScript fixture plugin in one of its modes. */
export const fixtureScript = (mode: string, env: Record<string, string> = {}) =>
  `${Object.entries({ FIXTURE_MODE: mode, ...env }).map(([k, v]) => `${k}=${v}`).join(" ")} exec ${process.execPath} ${fixturePlugin}`

/**
 * A node for tests, as an embedding node composes it: the factory over a registry of `plugins`
 * (or a directory), a single node's services, the engine, an in-memory store, chain data
 * under `dir`, the plugins' own log lines silenced.
 */
export const testNode = (dir: string, options: {
  readonly plugins?: ReadonlyArray<{ readonly vmId: string; readonly path: string }>
  readonly pluginDir?: string
  readonly launch?: Parameters<typeof VmFactory.layer>[0]
  readonly flavour?: "avalanchego" | "luxd"
}) =>
  VmFactory.layer(options.launch).pipe(
    Layer.provideMerge(VmRegistry.layer({ plugins: options.plugins, pluginDir: options.pluginDir })),
    Layer.provideMerge(NodeServices.layerSingleNode),
    Layer.provideMerge(VmRuntime.layer),
    Layer.provideMerge(NodeDatabase.layerMemory),
    Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: dir, flavour: options.flavour ?? "avalanchego" })),
    Layer.provideMerge(Logger.layer([]))
  )

/**
 * The node services alone, as a node serves them at `server_addr`: single-node answers, an empty
 * validator set, shared memory on an in-memory store (which the layer also provides).
 */
export const testServices = Layer.mergeAll(
  ChainAliases.layer(),
  AppNetwork.layerRecording(),
  WarpSigner.layerEphemeral(),
  ValidatorSet.layerTest({ validators: [] }),
  ChainSignals.layer,
  SharedMemory.layer
).pipe(Layer.provideMerge(NodeDatabase.layerMemory), Layer.provideMerge(NodeConfig.layerWith({ chainDataRoot: "/nonexistent" })))
