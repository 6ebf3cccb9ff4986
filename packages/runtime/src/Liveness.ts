/** Whether a process exists, without signalling it. */

/** Whether `pid` exists (a process of another user answers EPERM: it exists too). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}
