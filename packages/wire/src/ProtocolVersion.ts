/**
 * rpcchainvm protocol versions. Upstream nodes require the plugin's version to equal theirs;
 * a vmre host may accept a set of them (`45`, `44,45`, `42-45`). The release table serves to
 * tell a person which release a number belongs to, and to turn a release into its number.
 */

/** The version vmre speaks by default: avalanchego v1.14.2. */
export const DEFAULT = 45

/** One row per release line whose protocol number is known: `[major, minor, first patch, last patch]`. */
interface Release {
  readonly version: number
  readonly node: "avalanchego" | "luxd"
  readonly minor: readonly [major: number, minor: number, from: number, to: number] | undefined
  readonly text: string
}

const releases: ReadonlyArray<Release> = [
  { version: 46, node: "avalanchego", minor: [1, 15, 0, 0], text: "avalanchego v1.15.0" },
  { version: 45, node: "avalanchego", minor: [1, 14, 2, 2], text: "avalanchego v1.14.2" },
  { version: 44, node: "avalanchego", minor: [1, 14, 0, 1], text: "avalanchego v1.14.0-v1.14.1" },
  { version: 43, node: "avalanchego", minor: [1, 13, 4, 5], text: "avalanchego v1.13.4-v1.13.5, luxd gRPC era" },
  { version: 43, node: "luxd", minor: undefined, text: "luxd gRPC era" },
  { version: 35, node: "avalanchego", minor: [1, 11, 3, 9], text: "avalanchego v1.11.3-v1.11.9" }
]

/** Known versions and the releases that speak them, newest first. */
export const knownReleases: ReadonlyArray<readonly [version: number, release: string]> = releases
  .filter((release) => release.node === "avalanchego")
  .map((release) => [release.version, release.text] as const)

/** A human description of a protocol version, e.g. `45 (avalanchego v1.14.2)`. */
export const describe = (version: number): string => {
  const release = knownReleases.find(([v]) => v === version)?.[1]
  return release === undefined ? `${version}` : `${version} (${release})`
}

/**
 * The protocol version of an upstream node release, from its version text as people write
 * it (`avalanchego/1.14.2`, `v1.14.2`, `1.14.2`), or `luxd` for the gRPC-era luxd. Undefined
 * when the release is not one whose number is known.
 */
export const forRelease = (text: string): number | undefined => {
  const trimmed = text.trim().toLowerCase()
  if (trimmed === "luxd") return releases.find((release) => release.node === "luxd")?.version
  const match = /^(?:avalanchego[/ @])?v?(\d+)\.(\d+)\.(\d+)$/.exec(trimmed)
  if (match === null) return undefined
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])]
  return releases.find(({ minor: m }) =>
    m !== undefined && m[0] === major && m[1] === minor && patch >= m[2] && patch <= m[3]
  )?.version
}

const MAX_VERSION = 0xffff_ffff
// A wider range is a typo, not a wish to accept thousands of versions.
const MAX_RANGE = 1024

/**
 * The versions named by `text`: comma-separated numbers, inclusive `low-high` ranges and
 * known release names (`45`, `44,45`, `42-45`, `35,v1.14.2`). Sorted, without repeats;
 * undefined when the text is not such a list (an empty item, a reversed range, a number
 * beyond uint32, an unknown release).
 */
export const parseSet = (text: string): ReadonlyArray<number> | undefined => {
  const versions = new Set<number>()
  for (const item of text.split(",")) {
    const range = /^\s*(\d{1,10})\s*(?:-\s*(\d{1,10})\s*)?$/.exec(item)
    if (range === null) {
      const released = forRelease(item)
      if (released === undefined) return undefined
      versions.add(released)
      continue
    }
    const low = Number(range[1])
    const high = range[2] === undefined ? low : Number(range[2])
    if (high < low || high > MAX_VERSION || high - low > MAX_RANGE) return undefined
    for (let v = low; v <= high; v++) versions.add(v)
  }
  return [...versions].sort((a, b) => a - b)
}

/** What {@link parseSet} accepts, for usage errors. */
export const SET_HINT = "protocol versions: N, N,M, LOW-HIGH or a release such as v1.14.2 (each from 0 to 4294967295)"

/** `versions` as text: runs of three or more as `low-high`, the rest comma-separated (`35,42-45`). */
export const formatSet = (versions: ReadonlyArray<number>): string => {
  const sorted = [...new Set(versions)].sort((a, b) => a - b)
  const parts: Array<string> = []
  for (let i = 0; i < sorted.length;) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`)
    else for (let k = i; k <= j; k++) parts.push(`${sorted[k]}`)
    i = j + 1
  }
  return parts.join(",")
}

/** One version or a set of them, as a launch accepts them. */
export type Accepted = number | ReadonlyArray<number>

/** `accepted` as a sorted list without repeats. */
export const toSet = (accepted: Accepted): ReadonlyArray<number> =>
  typeof accepted === "number" ? [accepted] : [...new Set(accepted)].sort((a, b) => a - b)
