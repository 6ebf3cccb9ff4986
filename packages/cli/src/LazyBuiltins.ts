/**
 * An esbuild plugin for a bundle that becomes a V8 start-up snapshot (`vmre pack`). Node's
 * snapshot builder aborts once node:http, node:https, node:http2 or node:tls is loaded (their
 * native state cannot be serialized; measured with Node 26.10), and every gRPC plugin imports
 * node:http2. Here an import of one of them resolves to a stand-in module that loads the real
 * one when one of its exports is first read — in the process started from the snapshot, since
 * nothing at load time reads them (a module that does makes the snapshot fail, and `vmre
 * pack` then falls back to the code cache).
 *
 * The stand-in has the real module's export names, read from the Node that packs (the Node
 * the single executable is made of), so named, default and namespace imports see what they
 * would see without it.
 */
import type { Plugin } from "esbuild"

/** The built-in modules a Node start-up snapshot cannot hold. */
export const lazyBuiltins: ReadonlyArray<string> = ["http", "http2", "https", "tls"]

const namespace = "vmre-lazy-builtin"

const standIn = (name: string): string => {
  const exported = Object.keys(process.getBuiltinModule(`node:${name}`) as object)
  // A Proxy over an empty object: `__esModule` must read as absent (esbuild's interop asks)
  // without loading the module; descriptors are reported as configurable accessors, which
  // the Proxy invariants allow for properties its target does not have.
  return `"use strict"
const names = ${JSON.stringify(exported)}
let loaded
const load = () => loaded ??= process.getBuiltinModule(${JSON.stringify(`node:${name}`)})
module.exports = new Proxy({}, {
  get: (_, key) => key === "__esModule" ? undefined : load()[key],
  has: (_, key) => names.includes(key),
  ownKeys: () => names,
  getOwnPropertyDescriptor: (_, key) =>
    names.includes(key) ? { configurable: true, enumerable: true, get: () => load()[key] } : undefined
})
`
}

export const lazyBuiltinsPlugin: Plugin = {
  name: "vmre-lazy-builtins",
  setup(build) {
    const filter = new RegExp(`^(node:)?(${lazyBuiltins.join("|")})$`)
    build.onResolve({ filter }, (args) => ({ path: args.path.replace(/^node:/, ""), namespace }))
    build.onLoad({ filter: /.*/, namespace }, (args) => ({ contents: standIn(args.path), loader: "js" }))
  }
}
