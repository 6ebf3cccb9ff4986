/** Facts about processes from /proc (Linux). */
import { readdirSync, readFileSync } from "node:fs"

const status = (pid: number | "self"): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8")
  } catch {
    return undefined
  }
}

const kib = (text: string | undefined, field: string): number | undefined => {
  if (text === undefined) return undefined
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)
  return match === null ? undefined : Number(match[1])
}

/** Resident set size in MiB (VmRSS), or undefined if the process is gone. */
export const rssMiB = (pid: number | "self"): number | undefined => {
  const k = kib(status(pid), "VmRSS")
  return k === undefined ? undefined : k / 1024
}

/**
 * Private memory in MiB (Private_Clean + Private_Dirty of smaps_rollup, "USS"): what the
 * process alone holds, without the pages of the node binary it shares with every other node.
 */
export const privateMiB = (pid: number): number | undefined => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")
  } catch {
    return undefined
  }
  const clean = kib(text, "Private_Clean")
  const dirty = kib(text, "Private_Dirty")
  return clean === undefined || dirty === undefined ? undefined : (clean + dirty) / 1024
}

/** Peak resident set size in MiB (VmHWM). */
export const peakRssMiB = (pid: number | "self"): number | undefined => {
  const k = kib(status(pid), "VmHWM")
  return k === undefined ? undefined : k / 1024
}

/** The command line of a process, as an array. */
export const cmdline = (pid: number): Array<string> => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s !== "")
  } catch {
    return []
  }
}

/** Pids and names of the direct children of `ppid`. */
export const children = (ppid: number): Array<{ readonly pid: number; readonly comm: string }> => {
  const out: Array<{ pid: number; comm: string }> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      // pid (comm) state ppid ...
      const close = stat.lastIndexOf(")")
      const comm = stat.slice(stat.indexOf("(") + 1, close)
      const fields = stat.slice(close + 2).split(" ")
      if (Number(fields[1]) === ppid) out.push({ pid: Number(entry), comm })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** The 1-minute load average and the core count, to judge how quiet the machine was. */
export const machineLoad = (): number => {
  try {
    return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0])
  } catch {
    return Number.NaN
  }
}

/** Busy CPU time of the whole machine so far, in seconds (all cores; /proc/stat). */
export const machineBusySeconds = (): number => {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal …
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu
    return (user + nice + system + irq + softirq + steal) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

/**
 * CPU time of this process plus every child it has waited for (and theirs), in seconds
 * (utime + stime + cutime + cstime of /proc/self/stat). Read by the runner after a
 * scenario's process has exited, it covers the scenario, its plugins and the Go host.
 */
export const treeCpuSeconds = (): number => {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

/** CPU time (user + system) of one process so far, in seconds (10 ms resolution). */
export const processCpuSeconds = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

// Linux's USER_HZ is 100 on every architecture Node supports.
const CLK_TCK = 100
