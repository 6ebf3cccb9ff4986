/**
 * `gc` for tests that measure memory: the global one if the worker runs with --expose-gc,
 * else the same flag set at run time and the function taken from a fresh V8 context (the
 * vitest config is left alone); undefined if V8 refuses.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

export const forceGc: (() => void) | undefined = (() => {
  const existing = (globalThis as { gc?: () => void }).gc
  if (typeof existing === "function") return existing
  try {
    setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as unknown
    return typeof gc === "function" ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
})()
