/**
 * SHA-256 pinning of plugin binaries, checked before exec (as Vault and Terraform do).
 *
 * The digest is of the file's bytes as read just before the launch; a file swapped between
 * that read and exec (same path) is not detected — protect the plugin directory's permissions.
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { ChecksumMismatch, SpawnFailed } from "./Errors.ts"

/** The lower-case hex SHA-256 of a file. */
export const sha256 = (path: string): Effect.Effect<string, SpawnFailed> =>
  Effect.callback<string, SpawnFailed>((resume) => {
    const hash = createHash("sha256")
    const stream = createReadStream(path)
    stream.on("data", (chunk) => hash.update(chunk))
    stream.on("error", (error) =>
      resume(Effect.fail(new SpawnFailed({ path, reason: "Other", detail: `cannot read it to check its SHA-256: ${error.message}` })))
    )
    stream.on("end", () => resume(Effect.succeed(hash.digest("hex"))))
    return Effect.sync(() => stream.destroy())
  })

/** Fails with `ChecksumMismatch` unless the file's SHA-256 is `expected` (hex, any case). */
export const verify = (path: string, expected: string): Effect.Effect<void, ChecksumMismatch | SpawnFailed> =>
  Effect.flatMap(sha256(path), (actual) =>
    actual === expected.trim().toLowerCase() ?
      Effect.void :
      Effect.fail(new ChecksumMismatch({ path, expected: expected.trim().toLowerCase(), actual })))
