/**
 * What both ends of HTTP over gRPC (`http.HTTP`, `http.responsewriter.Writer`) agree on: how
 * headers travel, which status codes pass, and how a VM's 500 rides on a gRPC error.
 *
 * Go VMs copy header elements into `http.Header` by key without canonicalizing, and look them
 * up canonicalized (`r.Header.Get("Content-Type")`): keys must travel in Go's canonical form,
 * never as Node's lower case.
 */
import type { Element } from "@vmre/proto/http/http_pb"

/** The code, and the one detail, of the gRPC error a VM answers HandleSimple with on a 500. */
export const SIMPLE_ERROR_CODE = 500

/** Nodes prefix every chain's handlers with this, then the chain's ID (CB58) and the handler's prefix. */
export const CHAIN_ROUTE_PREFIX = "/ext/bc/"

/** Go's canonical MIME header key: `content-type` → `Content-Type`; a key with a space or other invalid byte stays as it is. */
export const canonicalKey = (key: string): string => {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) return key
  let upper = true
  let out = ""
  for (const char of key) {
    out += upper ? char.toUpperCase() : char.toLowerCase()
    upper = char === "-"
  }
  return out
}

/**
 * A header map as wire elements, keys canonical, one element per key; `set-cookie` keeps each
 * cookie as its own value (the only header that cannot be joined with commas).
 */
export const fromHeaders = (headers: Headers): Array<{ key: string; values: Array<string> }> => {
  const byKey = new Map<string, Array<string>>()
  for (const [key, value] of headers) {
    if (key === "set-cookie") continue
    byKey.set(canonicalKey(key), [value])
  }
  const cookies = headers.getSetCookie()
  if (cookies.length > 0) byKey.set("Set-Cookie", cookies)
  return [...byKey].map(([key, values]) => ({ key, values }))
}

/** The same from Node's `headersDistinct` (every value of every key, keys lower case). */
export const fromDistinct = (
  headers: Readonly<Record<string, ReadonlyArray<string> | undefined>>
): Array<{ key: string; values: Array<string> }> =>
  Object.entries(headers).flatMap(([key, values]) =>
    values === undefined ? [] : [{ key: canonicalKey(key), values: [...values] }]
  )

/** Wire elements as a Web `Headers` (invalid names or values are dropped: they cannot be sent on). */
export const toHeaders = (elements: ReadonlyArray<Pick<Element, "key" | "values">>): Headers => {
  const headers = new Headers()
  for (const { key, values } of elements) {
    for (const value of values) {
      try {
        headers.append(key, value)
      } catch {
        // Not a valid header name or value.
      }
    }
  }
  return headers
}

/** A status code an HTTP server can send: outside 100–599 it becomes 500, as the Go nodes do. */
export const validStatus = (code: number): number => (Number.isInteger(code) && code >= 100 && code <= 599 ? code : 500)
