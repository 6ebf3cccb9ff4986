/**
 * The environment a node gives a plugin it launches.
 *
 * avalanchego sets `AVALANCHE_VM_RUNTIME_ENGINE_ADDR`, luxd `LUX_VM_RUNTIME_ENGINE_ADDR`, and
 * older releases of both `VM_RUNTIME_ENGINE_ADDR`: the address of the node's `vm.runtime.Runtime`
 * server. A host sets all of them by default so one plugin binary runs under either node; a
 * plugin reads the first one that is set.
 */

/** The env vars that carry the engine address, in the order a plugin looks them up. */
export const ENGINE_ADDR_ENV_NAMES: ReadonlyArray<string> = [
  "LUX_VM_RUNTIME_ENGINE_ADDR",
  "VM_RUNTIME_ENGINE_ADDR",
  "AVALANCHE_VM_RUNTIME_ENGINE_ADDR"
]

/**
 * vmre's own addition, off unless a host turns it on: a per-launch secret the host puts in
 * this env var and expects back in {@link LAUNCH_SECRET_HEADER} on `Initialize`, so that only
 * the process it launched can complete the handshake. Go nodes neither set nor send it.
 */
export const LAUNCH_SECRET_ENV = "VMRE_LAUNCH_SECRET"

/** The gRPC metadata key that carries the launch secret back to the host. */
export const LAUNCH_SECRET_HEADER = "vmre-launch-secret"
