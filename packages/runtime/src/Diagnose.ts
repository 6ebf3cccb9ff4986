/**
 * Why a plugin binary cannot start, found before exec: missing file, missing execute bit,
 * a binary for another OS or CPU, or a `#!` line whose interpreter cannot be found in the
 * environment the plugin will get (plugins run without PATH, as upstream starts them).
 */
import { Effect } from "effect"
import { constants } from "node:fs"
import { access, open, stat } from "node:fs/promises"
import { SpawnFailed, type SpawnFailureReason } from "./Errors.ts"

const elfMachines: Record<number, string> = {
  0x03: "ia32",
  0x28: "arm",
  0x3e: "x64",
  0xb7: "arm64",
  0xf3: "riscv64",
  0x08: "mips",
  0x15: "ppc64",
  0x16: "s390x"
}

const readHead = async (path: string): Promise<Buffer> => {
  const file = await open(path, "r")
  try {
    const buffer = Buffer.alloc(256)
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await file.close()
  }
}

const isExecutable = (path: string) => access(path, constants.X_OK).then(() => true, () => false)

/** Looks `name` up in a PATH value, as execvp would. */
const which = async (name: string, pathValue: string | undefined): Promise<string | undefined> => {
  for (const dir of (pathValue ?? "").split(":")) {
    if (dir === "") continue
    const candidate = `${dir}/${name}`
    if (await isExecutable(candidate)) return candidate
  }
  return undefined
}

type Problem = readonly [SpawnFailureReason, string]

const findProblem = async (path: string, env: Readonly<Record<string, string>>): Promise<Problem | undefined> => {
  let info
  try {
    info = await stat(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return ["NotFound", "no such file"]
    if (code === "EACCES") return ["NotExecutable", "permission denied on a directory of its path"]
    return ["Other", `cannot stat it: ${(error as Error).message}`]
  }
  if (!info.isFile()) return ["NotAFile", info.isDirectory() ? "it is a directory" : "it is not a regular file"]
  if (!(await isExecutable(path))) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0")
    return ["NotExecutable", `it is not executable (mode ${mode}); run chmod +x on it`]
  }
  let head: Buffer
  try {
    head = await readHead(path)
  } catch (error) {
    // Execute-only files cannot be read: exec will tell.
    return (error as NodeJS.ErrnoException).code === "EACCES" ? undefined : ["Other", (error as Error).message]
  }
  if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) {
    // Shorter than its own header (52 bytes for 32-bit, 64 for 64-bit): the kernel refuses it.
    if (head.length < (head[4] === 2 ? 64 : 52)) return ["WrongFormat", `it is a truncated ELF binary (${head.length} bytes)`]
    const littleEndian = head[5] === 1
    const machine = littleEndian ? head.readUInt16LE(18) : head.readUInt16BE(18)
    const bits = head[4] === 2 ? 64 : 32
    const arch = elfMachines[machine] ?? `machine 0x${machine.toString(16)}`
    const hostArch = process.arch
    if (arch !== hostArch || (bits === 32) !== (hostArch === "ia32" || hostArch === "arm")) {
      return ["WrongArchitecture", `it is a ${bits}-bit ELF binary for ${arch}; this host is linux/${hostArch}`]
    }
    return undefined
  }
  if (head.length >= 4) {
    const magic = head.readUInt32BE(0)
    if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(magic)) {
      return ["WrongFormat", "it is a Mach-O (macOS) binary; build the plugin for Linux"]
    }
  }
  if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a) {
    return ["WrongFormat", "it is a Windows (PE) executable; build the plugin for Linux"]
  }
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const raw = head.subarray(2, head.indexOf(10) === -1 ? head.length : head.indexOf(10)).toString("utf8")
    if (raw.endsWith("\r")) {
      return [
        "BadInterpreter",
        `its #! line ends with a carriage return (CRLF line endings), so the kernel looks for "${raw.trim()}\\r"; ` +
          "save the script with LF line endings"
      ]
    }
    const line = raw.trim()
    const [interpreter = "", ...rest] = line.split(/\s+/)
    if (interpreter === "") return ["BadInterpreter", "its #! line names no interpreter"]
    if (!(await isExecutable(interpreter))) {
      return ["BadInterpreter", `its interpreter ${interpreter} (from the #! line) does not exist or is not executable`]
    }
    const envProgram = interpreter.endsWith("/env") ? rest.find((word) => !word.startsWith("-")) : undefined
    if (envProgram !== undefined && !envProgram.includes("/") && (await which(envProgram, env.PATH)) === undefined) {
      return [
        "BadInterpreter",
        `its #! line runs "${envProgram}" through env, but ${
          env.PATH === undefined ? "plugins are started without PATH (as the Go nodes do)" : "it is not on the PATH given"
        }; use an absolute interpreter path in the #! line, or a wrapper script`
      ]
    }
    return undefined
  }
  // The kernel executes only ELF binaries and #! scripts. execvp (which setpriv uses) would run
  // anything else with /bin/sh; the Go nodes' exec refuses it, and so does vmre.
  return [
    "WrongFormat",
    head.length === 0 ?
      "it is an empty file" :
      head.subarray(0, 64).includes(0) ?
      "it is neither an ELF binary nor a script" :
      "it is a script without a #! line; the kernel cannot execute it (add e.g. #!/bin/sh as its first line)"
  ]
}

/** Fails with a `SpawnFailed` that says what to fix, if `path` cannot be executed. */
export const preflight = (path: string, env: Readonly<Record<string, string>>): Effect.Effect<void, SpawnFailed> =>
  Effect.flatMap(
    Effect.promise(() => findProblem(path, env)),
    (problem) =>
      problem === undefined ? Effect.void : Effect.fail(new SpawnFailed({ path, reason: problem[0], detail: problem[1] }))
  )

/** Turns an exec-time error code into a `SpawnFailed`. */
export const fromSpawnError = (path: string, error: unknown): SpawnFailed => {
  const text = String((error as { cause?: { message?: string } })?.cause?.message ?? (error as Error)?.message ?? error)
  const reason: SpawnFailureReason = text.includes("ENOENT") ?
    "NotFound" :
    text.includes("EACCES") ?
    "NotExecutable" :
    text.includes("ENOEXEC") ?
    "WrongFormat" :
    "Other"
  return new SpawnFailed({ path, reason, detail: text })
}
