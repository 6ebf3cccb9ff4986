/** Process checks shared by the test suites. */

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
