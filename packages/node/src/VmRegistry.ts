/**
 * The VM registry of a node: registers the plugins of a plugin directory by VM ID, as
 * avalanchego's and luxd's VM manager do. Registering a plugin is a probe: launch it,
 * complete the handshake, call `Version`, stop it. A plugin whose probe fails is not
 * registered; the failure is logged as the Go nodes log it, `failed to register VM` with
 * the fields `vmID` and `error`, and the next `reload` tries it again.
 */
import { ChainVm, type ChainVmConfig, Errors as RuntimeErrors, VmRuntime } from "@vmre/runtime"
import { Context, Effect, Layer, PubSub, Ref, Semaphore, Stream } from "effect"
import { InvalidVmAliases, PluginDirectoryInvalid, VmNotRegistered } from "./Errors.ts"
import * as PluginDirectory from "./PluginDirectory.ts"

/** A VM whose plugin registered: what its probe reported. */
export interface RegisteredVm {
  /** CB58 VM ID. */
  readonly vmId: string
  readonly aliases: ReadonlyArray<string>
  readonly path: string
  readonly protocolVersion: number
  /** What the plugin answered to `Version`. */
  readonly version: string
}

/** A plugin whose probe failed: not registered. */
export interface FailedVm {
  readonly vmId: string
  readonly path: string
  /** The error's short form, as logged (`handshake failed: timeout`). */
  readonly error: string
  /** The typed error's full message: what happened and what to do. */
  readonly detail: string
  readonly cause: RuntimeErrors.LaunchError | RuntimeErrors.VmCallError
}

export interface RegistryReport {
  readonly registered: ReadonlyArray<RegisteredVm>
  readonly failed: ReadonlyArray<FailedVm>
  readonly skipped: ReadonlyArray<PluginDirectory.SkippedFile>
}

export type RegistryChange =
  | { readonly _tag: "Registered"; readonly vm: RegisteredVm }
  | { readonly _tag: "RegistrationFailed"; readonly vmId: string; readonly path: string; readonly error: string }

export type DirectoryError = PluginDirectoryInvalid | InvalidVmAliases

export interface VmRegistryOptions {
  /** The plugin directory; or, without one, `plugins` lists the plugin files. */
  readonly pluginDir?: string | undefined
  /** Plugin files registered as they are (e.g. one plugin for a dev chain); with `pluginDir`, added to its plugins. */
  readonly plugins?: ReadonlyArray<PluginDirectory.PluginFile> | undefined
  /** `{"<vmID>": ["alias", …]}`; read again at every reload. */
  readonly aliasesFile?: string | undefined
  /** How probes launch (protocol versions, timeouts, env…); `path` and `name` come from the directory. */
  readonly launch?: Omit<ChainVmConfig, "path" | "name"> | undefined
  /** Probes run at once (default 4). */
  readonly concurrency?: number | undefined
}

/** Launch, handshake, `Version`, stop: the registration probe of one plugin. */
const probe = (plugin: PluginDirectory.PluginFile, launch: Omit<ChainVmConfig, "path" | "name">) =>
  Effect.scoped(Effect.gen(function*() {
    const { client, vm } = yield* ChainVm.launch({ ...launch, path: plugin.path, name: plugin.vmId })
    const version = yield* client.version()
    return { protocolVersion: vm.protocolVersion, version }
  }))

export class VmRegistry extends Context.Service<VmRegistry, {
  /**
   * Scans the directory again and registers the plugins not registered yet (avalanchego's
   * `admin.loadVMs`): reports the new ones and the ones that failed. Running chains are not
   * touched.
   */
  readonly reload: Effect.Effect<RegistryReport, DirectoryError>
  /** Registered VMs, by VM ID. */
  readonly list: Effect.Effect<ReadonlyArray<RegisteredVm>>
  /** Everything registered, the failures of the last attempt of each plugin not registered, the last scan's skipped files. */
  readonly report: Effect.Effect<RegistryReport>
  /** A registered VM by VM ID or alias. */
  readonly lookup: (vm: string) => Effect.Effect<RegisteredVm, VmNotRegistered>
  /** Registrations and failures from the moment of subscription on. */
  readonly changes: Stream.Stream<RegistryChange>
}>()("@vmre/node/VmRegistry") {
  /** Registers the directory's plugins once built; fails only if the directory or aliases file is unusable. */
  static readonly layer = (options: VmRegistryOptions): Layer.Layer<VmRegistry, DirectoryError, VmRuntime> =>
    Layer.effect(VmRegistry, make(options))

  /** A registry of the given VMs, without a directory or processes. */
  static readonly layerTest = (vms: ReadonlyArray<RegisteredVm>): Layer.Layer<VmRegistry> =>
    Layer.succeed(VmRegistry, {
      reload: Effect.succeed({ registered: [], failed: [], skipped: [] }),
      list: Effect.succeed(vms),
      report: Effect.succeed({ registered: vms, failed: [], skipped: [] }),
      lookup: (vm) => lookupIn(vms, vm),
      changes: Stream.empty
    })
}

const lookupIn = (vms: ReadonlyArray<RegisteredVm>, name: string): Effect.Effect<RegisteredVm, VmNotRegistered> => {
  const found = vms.find((vm) => vm.vmId === name || vm.aliases.includes(name))
  return found === undefined ?
    Effect.fail(new VmNotRegistered({ vm: name, registered: vms.map((vm) => vm.vmId) })) :
    Effect.succeed(found)
}

const make = Effect.fnUntraced(function*(options: VmRegistryOptions) {
  const runtime = yield* VmRuntime
  const launch = options.launch ?? {}
  const registered = yield* Ref.make<ReadonlyArray<RegisteredVm>>([])
  const failures = yield* Ref.make<ReadonlyMap<string, FailedVm>>(new Map())
  const skipped = yield* Ref.make<ReadonlyArray<PluginDirectory.SkippedFile>>([])
  const changes = yield* PubSub.sliding<RegistryChange>(1024)
  yield* Effect.addFinalizer(() => PubSub.shutdown(changes))
  // One reload at a time: two would probe the same new plugin twice.
  const lock = yield* Semaphore.make(1)

  const register = (plugin: PluginDirectory.PluginFile, aliases: PluginDirectory.Aliases) =>
    probe(plugin, launch).pipe(
      Effect.provideService(VmRuntime, runtime),
      Effect.matchEffect({
        onSuccess: ({ protocolVersion, version }) => {
          const vm: RegisteredVm = {
            vmId: plugin.vmId,
            aliases: aliases.byVm.get(plugin.vmId) ?? [],
            path: plugin.path,
            protocolVersion,
            version
          }
          return Effect.as(PubSub.publish(changes, { _tag: "Registered", vm }), { _tag: "Registered" as const, vm })
        },
        onFailure: (cause) => {
          const error = RuntimeErrors.headline(cause)
          const failed: FailedVm = { vmId: plugin.vmId, path: plugin.path, error, detail: cause.message, cause }
          return Effect.logError("failed to register VM").pipe(
            Effect.annotateLogs({ vmID: plugin.vmId, error }),
            Effect.andThen(Effect.logDebug(cause.message).pipe(Effect.annotateLogs({ vmID: plugin.vmId }))),
            Effect.andThen(PubSub.publish(changes, { _tag: "RegistrationFailed", vmId: plugin.vmId, path: plugin.path, error })),
            Effect.as({ _tag: "Failed" as const, failed })
          )
        }
      })
    )

  const reload = lock.withPermits(1)(Effect.gen(function*() {
    const aliases = options.aliasesFile === undefined ?
      PluginDirectory.noAliases :
      yield* PluginDirectory.readAliases(options.aliasesFile)
    const fromDir = options.pluginDir === undefined ? { plugins: [], skipped: [] } : yield* PluginDirectory.scan(options.pluginDir, aliases)
    const scanned = { plugins: [...fromDir.plugins, ...(options.plugins ?? [])], skipped: fromDir.skipped }
    yield* Ref.set(skipped, scanned.skipped)
    const known = new Set((yield* Ref.get(registered)).map((vm) => vm.vmId))
    const outcomes = yield* Effect.forEach(
      scanned.plugins.filter((plugin) => !known.has(plugin.vmId)),
      (plugin) => register(plugin, aliases),
      { concurrency: options.concurrency ?? 4 }
    )
    const fresh = outcomes.flatMap((o) => o._tag === "Registered" ? [o.vm] : [])
    const failed = outcomes.flatMap((o) => o._tag === "Failed" ? [o.failed] : [])
    yield* Ref.update(registered, (vms) => [...vms, ...fresh].sort((a, b) => a.vmId.localeCompare(b.vmId)))
    yield* Ref.update(failures, (previous) => {
      const next = new Map(previous)
      for (const vm of fresh) next.delete(vm.vmId)
      for (const failure of failed) next.set(failure.vmId, failure)
      return next
    })
    return { registered: fresh, failed, skipped: scanned.skipped } satisfies RegistryReport
  }))

  yield* reload
  return VmRegistry.of({
    reload,
    list: Ref.get(registered),
    report: Effect.gen(function*() {
      return {
        registered: yield* Ref.get(registered),
        failed: [...(yield* Ref.get(failures)).values()],
        skipped: yield* Ref.get(skipped)
      }
    }),
    lookup: (vm) => Effect.flatMap(Ref.get(registered), (vms) => lookupIn(vms, vm)),
    changes: Stream.fromPubSub(changes)
  })
})
