/**
 * The runtime engine: launches a VM plugin, hands it the address of a `vm.runtime.Runtime`
 * server in its environment, waits for its `Initialize` and checks it, and gives back a
 * handle to the running VM. Everything it starts belongs to the caller's scope.
 */
import { Cause, Clock, Config, Context, Duration, Effect, Exit, Layer, Metric, Schema, Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import * as Attach from "./Attach.ts"
import {
  type AttachError,
  AttachTimeout,
  HandshakeTimeout,
  type LaunchError,
  ProcessExitedBeforeHandshake,
  RuntimeServerFailed
} from "./Errors.ts"
import { EngineEnv, ProtocolVersion } from "@vmre/wire"
import { GrpcEngine } from "@vmre/transport"
import * as Checksum from "./Checksum.ts"
import type * as ResourceLimits from "./ResourceLimits.ts"
import * as Durations from "./Durations.ts"
import { Handshake } from "./Handshake.ts"
import { exitReason, Lifecycle, metrics } from "./Lifecycle.ts"
import { VmProcess, type VmProcessHandle } from "./VmProcess.ts"

/** What to launch, and how. Unset options come from {@link VmRuntimeConfig}. */
export interface LaunchConfig {
  /** Path of the plugin executable (resolved against the current directory). */
  readonly path: string
  readonly args?: ReadonlyArray<string> | undefined
  /** A short name for logs; defaults to the file name. */
  readonly name?: string | undefined
  readonly cwd?: string | undefined
  /** Extra environment for the plugin, on top of what upstream nodes pass. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Pass the host's whole environment (upstream passes only GRPC_* and GODEBUG*; vmre also OTEL_* and VMRE_GRPC_ENGINE). */
  readonly inheritEnv?: boolean | undefined
  /**
   * The version the plugin must report, or the set of versions accepted (e.g.
   * `ProtocolVersion.parseSet("42-45")`); the instance reports the one the plugin spoke.
   */
  readonly protocolVersion?: ProtocolVersion.Accepted | undefined
  readonly handshakeTimeout?: Duration.Input | undefined
  readonly stopTimeout?: Duration.Input | undefined
  readonly engineAddrEnvNames?: ReadonlyArray<string> | undefined
  /** Number of lines kept for error reports and `recentLines` (default 20). */
  readonly stderrTailLines?: number | undefined
  /** Append each stream's raw bytes to a file. */
  readonly stdoutFile?: string | undefined
  readonly stderrFile?: string | undefined
  /** Refuse to start the binary unless its SHA-256 (hex) is this. */
  readonly sha256?: string | undefined
  /**
   * Require the plugin to present a per-launch secret on `Initialize` (passed to it in
   * `VMRE_LAUNCH_SECRET`; @vmre/plugin sends it). Off by default: Go plugins built for
   * avalanchego or luxd do not send it.
   */
  readonly requireSecret?: boolean | undefined
  /**
   * Per-VM resource limits (memory bytes, pids, CPU cores), set on the plugin's cgroup where
   * the host can create cgroups with those controllers; a limit that cannot be set is logged
   * at Warn, and what the kernel counted against them is published as `LimitHit` at exit.
   */
  readonly limits?: ResourceLimits.Limits | undefined
}

/** Attach mode: wait at a fixed engine address for a plugin started by hand (see `Attach`). */
export interface AttachConfig {
  /** `HOST:PORT` to listen on: what the plugin's engine address env var must say. */
  readonly listen: string
  /** A short name for logs; default `attached@HOST:PORT`. */
  readonly name?: string | undefined
  readonly protocolVersion?: ProtocolVersion.Accepted | undefined
  /** How long to wait for the person to start the plugin (default 10 minutes). */
  readonly handshakeTimeout?: Duration.Input | undefined
}

/** A running VM plugin that completed its handshake: its process handle and what it reported. */
export interface VmInstance extends VmProcessHandle {
  readonly name: string
  readonly path: string
  /** `127.0.0.1:PORT` of the plugin's gRPC server. */
  readonly vmAddr: string
  readonly protocolVersion: number
  /** From spawn to the plugin's `Initialize`. */
  readonly handshakeDuration: Duration.Duration
}

const ProtocolVersionText = Schema.String.check(
  Schema.makeFilter((text: string) => ProtocolVersion.parseSet(text) !== undefined || ProtocolVersion.SET_HINT)
)

/** Defaults for every launch, read from the environment. */
export class VmRuntimeConfig extends Context.Service<VmRuntimeConfig, {
  readonly protocolVersion: ProtocolVersion.Accepted
  readonly handshakeTimeout: Duration.Duration
  readonly stopTimeout: Duration.Duration
  readonly engineAddrEnvNames: ReadonlyArray<string>
}>()("@vmre/runtime/VmRuntimeConfig") {
  /** `VMRE_PROTOCOL_VERSION` (45; a set such as `44,45` or `42-45` is accepted), `VMRE_HANDSHAKE_TIMEOUT` (5 seconds), `VMRE_STOP_TIMEOUT` (5 seconds), `VMRE_ENGINE_ADDR_ENV_NAMES` (all three). */
  static readonly layer = Layer.effect(
    VmRuntimeConfig,
    Config.all({
      protocolVersion: Config.schema(ProtocolVersionText, "VMRE_PROTOCOL_VERSION").pipe(
        Config.map((text): ProtocolVersion.Accepted => {
          const set = ProtocolVersion.parseSet(text) ?? []
          return set.length === 1 ? set[0]! : set
        }),
        Config.withDefault<ProtocolVersion.Accepted>(ProtocolVersion.DEFAULT)
      ),
      handshakeTimeout: Durations.config("VMRE_HANDSHAKE_TIMEOUT", Duration.seconds(5)),
      stopTimeout: Durations.config("VMRE_STOP_TIMEOUT", Duration.seconds(5)),
      engineAddrEnvNames: Config.Array(Schema.String, "VMRE_ENGINE_ADDR_ENV_NAMES").pipe(
        Config.withDefault(EngineEnv.ENGINE_ADDR_ENV_NAMES)
      )
    })
  )
}

// As upstream, GRPC_* and GODEBUG*; and OTEL_*, so that a plugin exports its spans where the
// host's go (the SDK reads the standard OpenTelemetry exporter variables); and the gRPC engine
// the host was told to use, so that one variable switches both ends.
const upstreamEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (
      value !== undefined &&
      (name.startsWith("GRPC_") || name.startsWith("GODEBUG") || name.startsWith("OTEL_") || name === GrpcEngine.ENV)
    ) env[name] = value
  }
  return env
}

const definedEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined))

// How long to wait for the rest of a dead plugin's stderr before reporting it.
const tailDrainBound = Duration.millis(500)

export class VmRuntime extends Context.Service<VmRuntime, {
  /**
   * Starts the plugin and completes once it has handshaken. The process lives until the
   * scope closes (or `stop`); a failed launch leaves nothing running.
   */
  readonly launch: (config: LaunchConfig) => Effect.Effect<VmInstance, LaunchError, Scope.Scope>
  /**
   * Attach mode: listens on `config.listen` until a plugin started by hand calls `Initialize`,
   * then gives it back as a launched one; closing the scope never signals it.
   */
  readonly attach: (config: AttachConfig) => Effect.Effect<VmInstance, AttachError, Scope.Scope>
}>()("@vmre/runtime/VmRuntime") {
  /** The runtime without its dependencies: provide Handshake, VmProcess, VmRuntimeConfig and Lifecycle. */
  static readonly layerNoDeps = Layer.effect(
    VmRuntime,
    Effect.gen(function*() {
      const handshake = yield* Handshake
      const processes = yield* VmProcess
      const defaults = yield* VmRuntimeConfig
      const lifecycle = yield* Lifecycle

      const launch = Effect.fn("VmRuntime.launch")(function*(config: LaunchConfig) {
        const pluginPath = path.resolve(config.path)
        const name = config.name ?? path.basename(pluginPath)
        const protocolVersion = config.protocolVersion ?? defaults.protocolVersion
        const handshakeTimeout = config.handshakeTimeout === undefined ?
          defaults.handshakeTimeout :
          Duration.fromInputUnsafe(config.handshakeTimeout)
        const stopTimeout = config.stopTimeout === undefined ?
          defaults.stopTimeout :
          Duration.fromInputUnsafe(config.stopTimeout)
        yield* Effect.annotateCurrentSpan({ vm: name, path: pluginPath, protocolVersion: ProtocolVersion.formatSet(ProtocolVersion.toSet(protocolVersion)) })

        // Each launch has its own scope, closed at once if the launch fails, so that a failed
        // launch never keeps a child alive until the caller's scope ends.
        const launchScope = yield* Scope.fork(yield* Effect.scope)
        const serverScope = yield* Scope.fork(launchScope)
        // The plugin process once spawned: an interrupted handshake kills it at once.
        let spawned: VmProcessHandle | undefined
        const attempt = Effect.gen(function*() {
          if (config.sha256 !== undefined) yield* Checksum.verify(pluginPath, config.sha256)
          const secret = config.requireSecret === true ? randomBytes(32).toString("hex") : undefined
          const pending = yield* handshake.listen({ protocolVersion, path: pluginPath, secret }).pipe(
            Scope.provide(serverScope)
          )
          const env: Record<string, string> = {
            ...(config.inheritEnv === true ? definedEnv() : upstreamEnv()),
            ...config.env
          }
          if (secret !== undefined) env[EngineEnv.LAUNCH_SECRET_ENV] = secret
          for (const envName of config.engineAddrEnvNames ?? defaults.engineAddrEnvNames) env[envName] = pending.address

          const startedAt = yield* Clock.currentTimeMillis
          const child = yield* processes.spawn({
            name,
            path: pluginPath,
            args: config.args ?? [],
            cwd: config.cwd,
            env,
            stopTimeout,
            tailLines: config.stderrTailLines ?? 20,
            stdoutFile: config.stdoutFile,
            stderrFile: config.stderrFile,
            limits: config.limits,
            onExit: ({ exit, limitHits, pid, stopRequested }) =>
              Effect.gen(function*() {
                for (const hit of limitHits) {
                  yield* Metric.update(Metric.withAttributes(metrics.limitHits, { resource: hit.resource }), hit.count)
                  yield* lifecycle.publish({ _tag: "LimitHit", name, pid, resource: hit.resource, count: hit.count })
                  yield* Effect.logWarning(
                    `${name} (pid ${pid}) hit its ${hit.resource} limit: ` +
                      (hit.resource === "memory" ? `${hit.count} process(es) OOM-killed` :
                        hit.resource === "pids" ? `${hit.count} fork(s) refused` : `throttled ${hit.count} time(s)`)
                  )
                }
                yield* Metric.update(Metric.withAttributes(metrics.exits, { reason: exitReason(exit, stopRequested) }), 1)
                yield* lifecycle.publish({ _tag: "Exited", name, pid, exit, requested: stopRequested })
              })
          }).pipe(Scope.provide(launchScope))
          spawned = child
          yield* Effect.annotateCurrentSpan({ pid: child.pid })
          yield* lifecycle.publish({ _tag: "Spawned", name, path: pluginPath, pid: child.pid })

          const exitedFirst = child.exit.pipe(
            Effect.flatMap((exit) =>
              Effect.gen(function*() {
                const now = yield* Clock.currentTimeMillis
                yield* child.drained(tailDrainBound)
                return yield* new ProcessExitedBeforeHandshake({
                  path: pluginPath,
                  pid: child.pid,
                  exitCode: exit.code,
                  signal: exit.signal,
                  afterMillis: now - startedAt,
                  stderrTail: yield* child.stderrTail
                })
              })
            )
          )
          const [handshakeDuration, result] = yield* Effect.raceFirst(pending.initialized, exitedFirst).pipe(
            Effect.timeoutOrElse({
              duration: handshakeTimeout,
              orElse: () =>
                Effect.gen(function*() {
                  const refusedSecrets = yield* pending.refusedSecrets
                  return yield* new HandshakeTimeout({
                    path: pluginPath,
                    pid: child.pid,
                    timeoutMillis: Duration.toMillis(handshakeTimeout),
                    stderrTail: yield* child.stderrTail,
                    ...(refusedSecrets > 0 ? { refusedSecrets } : {})
                  })
                })
            }),
            Effect.timed
          )
          // The runtime server has done its job: close it, as upstream does.
          yield* Scope.close(serverScope, Exit.void)
          yield* Metric.update(metrics.handshakeSeconds, Duration.toMillis(handshakeDuration) / 1000)
          yield* lifecycle.publish({
            _tag: "Ready",
            name,
            pid: child.pid,
            vmAddr: result.vmAddr,
            protocolVersion: result.protocolVersion,
            handshakeMillis: Duration.toMillis(handshakeDuration)
          })
          yield* Effect.logDebug(`handshake with ${name} done`).pipe(
            Effect.annotateLogs({ vm: name, pid: child.pid, vmAddr: result.vmAddr })
          )
          // The process handle, and what the plugin reported at its handshake.
          return {
            ...child,
            name,
            path: pluginPath,
            vmAddr: result.vmAddr,
            protocolVersion: result.protocolVersion,
            handshakeDuration
          } satisfies VmInstance
        })
        yield* Metric.update(metrics.launches, 1)
        return yield* attempt.pipe(
          Effect.tapError((error) =>
            Effect.andThen(
              Metric.update(Metric.withAttributes(metrics.launchFailures, { error: error._tag }), 1),
              lifecycle.publish({ _tag: "LaunchFailed", name, path: pluginPath, error: error._tag, message: error.message })
            )
          ),
          Effect.onExit((exit) => {
            if (Exit.isSuccess(exit)) return Effect.void
            // Interrupted (Ctrl-C, a caller giving up) before the plugin became a VM: a plugin
            // built on the upstream Serve ignores SIGTERM until Shutdown, so the grace period
            // would only make a person wait; it is killed at once.
            const child = spawned
            const killFirst = child !== undefined && Cause.hasInterruptsOnly(exit.cause) ?
              Effect.andThen(
                Effect.logWarning(`launch of ${name} interrupted during its handshake: killing it (pid ${child.pid}) at once`),
                child.kill
              ) :
              Effect.void
            return Effect.andThen(killFirst, Scope.close(launchScope, exit))
          })
        )
      })

      const attach = Effect.fn("VmRuntime.attach")(function*(config: AttachConfig) {
        const name = config.name ?? `attached@${config.listen}`
        const listen = Attach.parseListenAddress(config.listen)
        if (listen === undefined) {
          return yield* new RuntimeServerFailed({ reason: `${JSON.stringify(config.listen)} is not HOST:PORT` })
        }
        const protocolVersion = config.protocolVersion ?? defaults.protocolVersion
        const timeout = Duration.fromInputUnsafe(config.handshakeTimeout ?? Duration.minutes(10))
        const serverScope = yield* Scope.fork(yield* Effect.scope)
        const pending = yield* handshake.listen({ protocolVersion, path: name, host: listen.host, port: listen.port }).pipe(
          Scope.provide(serverScope)
        )
        yield* Effect.logInfo(`waiting for a plugin to call Initialize at ${config.listen}`)
        const [handshakeDuration, result] = yield* pending.initialized.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(new AttachTimeout({ address: config.listen, timeoutMillis: Duration.toMillis(timeout) }))
          }),
          Effect.timed,
          Effect.ensuring(Scope.close(serverScope, Exit.void))
        )
        const handle = yield* Attach.attachedHandle(result.vmAddr)
        yield* lifecycle.publish({
          _tag: "Ready",
          name,
          pid: handle.pid,
          vmAddr: result.vmAddr,
          protocolVersion: result.protocolVersion,
          handshakeMillis: Duration.toMillis(handshakeDuration)
        })
        return {
          ...handle,
          name,
          path: name,
          vmAddr: result.vmAddr,
          protocolVersion: result.protocolVersion,
          handshakeDuration
        } satisfies VmInstance
      })
      return VmRuntime.of({ launch, attach })
    })
  )

  /**
   * The runtime over real processes and a Connect handshake server, configured from the
   * environment. It also provides `Lifecycle`, so that events can be subscribed to.
   */
  static readonly layer = VmRuntime.layerNoDeps.pipe(
    Layer.provideMerge(Lifecycle.layer),
    Layer.provide([Handshake.layer, VmProcess.layer, VmRuntimeConfig.layer])
  )
}

