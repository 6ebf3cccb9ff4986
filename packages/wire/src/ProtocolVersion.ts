/**
 * rpcchainvm protocol versions. The node and the plugin must agree exactly; the table only
 * serves to tell a person which release a version number belongs to.
 */

/** The version vmre speaks by default: avalanchego v1.14.2. */
export const DEFAULT = 45

/** Known versions and the releases that speak them, newest first. */
export const knownReleases: ReadonlyArray<readonly [version: number, release: string]> = [
  [46, "avalanchego v1.15.0"],
  [45, "avalanchego v1.14.2"],
  [44, "avalanchego v1.14.0-v1.14.1"],
  [43, "avalanchego v1.13.4-v1.13.5, luxd gRPC era"],
  [35, "avalanchego v1.11.3-v1.11.9"]
]

/** A human description of a protocol version, e.g. `45 (avalanchego v1.14.2)`. */
export const describe = (version: number): string => {
  const release = knownReleases.find(([v]) => v === version)?.[1]
  return release === undefined ? `${version}` : `${version} (${release})`
}
