/**
 * A chain's HTTP API through the node: the VM's handlers (fixtures/httpHandlers.ts, served by
 * the SDK in a real plugin process) reached over HTTP at /ext/bc/<chain>/..., compared with the
 * same handlers called directly; streamed bodies both ways, a cancelled request, a VM too slow,
 * routes before the VM runs, the luxd flavour.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Ids } from "@vmre/wire"
import * as Chain from "../src/Chain.ts"
import { HttpGateway, type GatewayOptions } from "../src/http/HttpGateway.ts"
import { handlers } from "./fixtures/httpHandlers.ts"
import { goPluginPath, runGoHost, skipGo } from "../../../test-support/goInterop.ts"
import { chainIdOf, tempDir, testNode, vmIdOf, writeScript } from "./support.ts"

const httpVm = fileURLToPath(new URL("./fixtures/http-vm.ts", import.meta.url))
const vmId = vmIdOf(7)
const chainId = chainIdOf(70)
const base = `/ext/bc/${Ids.toString(chainId)}`
const noPayloads = new TextEncoder().encode(JSON.stringify({ autoPayload: null }))

/** A node with the http fixture VM and a listening gateway; runs `body` with the chain's base URL. */
const withChain = <A, E>(
  body: (url: string) => Effect.Effect<A, E, HttpGateway>,
  options: GatewayOptions & { readonly flavour?: "avalanchego" | "luxd"; readonly plugin?: string } = {}
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("vmre-http-")
    const plugin = writeScript(dir, vmId, options.plugin ?? `exec ${process.execPath} ${httpVm}`)
    return yield* Effect.gen(function*() {
      yield* Chain.run({ chainId, vm: vmId, name: "web", config: noPayloads })
      const gateway = yield* HttpGateway
      return yield* body(`${gateway.url}${base}`)
    }).pipe(
      Effect.provide(HttpGateway.layerListen(options).pipe(
        Layer.provideMerge(testNode(dir, { plugins: [{ vmId, path: plugin }], ...(options.flavour ? { flavour: options.flavour } : {}) }))
      ))
    )
  }).pipe(Effect.scoped)

const call = (url: string, init?: RequestInit) => Effect.promise(() => fetch(url, init))

/** What a response says, for comparing the node's answer with the handler's. */
const summary = (response: Response) =>
  Effect.promise(async () => ({
    status: response.status,
    body: await response.text(),
    contentType: response.headers.get("content-type"),
    method: response.headers.get("x-method"),
    query: response.headers.get("x-query"),
    length: response.headers.get("x-body-length"),
    why: response.headers.get("x-why"),
    cookies: response.headers.getSetCookie()
  }))

const direct = (path: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const prefix = handlers
      .map((h) => h.prefix)
      .filter((p) => path.split("?")[0] === p)[0] ?? ""
    const handler = handlers.find((h) => h.prefix === prefix)!
    return handler.fetch(new Request(`http://localhost${base}${path}`, init))
  })

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const bigBody = () => {
  const bytes = new Uint8Array(10 * 1024 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff
  return bytes
}

/** Polls the VM's count of cancelled requests until it reaches `n` (bounded). */
const cancelledReaches = (url: string, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const { cancelled } = yield* Effect.promise(() => fetch(`${url}/cancelled`).then((r) => r.json() as Promise<{ cancelled: number }>))
      if (cancelled >= n) return cancelled
      yield* Effect.sleep("50 millis")
    }
    return -1
  })

describe("HttpGateway", () => {
  it.live("answers through the node as the handler answers directly: statuses, headers, bodies, failures", () =>
    withChain((url) =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<[string, RequestInit | undefined]> = [
          ["", undefined],
          ["/echo?x=1&y=two", undefined],
          ["/echo", { method: "POST", body: JSON.stringify({ a: 1 }), headers: { "content-type": "application/json" } }],
          ["/echo?status=201", { method: "PUT", body: "created" }],
          ["/echo?status=404", { method: "POST", body: "missing" }],
          ["/echo?status=599", { method: "DELETE" }],
          ["/fail", undefined],
          ["/node", { method: "PATCH", body: "x" }]
        ]
        for (const [path, init] of cases) {
          const through = yield* call(`${url}${path}`, init)
          expect(through.headers.get("node-id")).toMatch(/^NodeID-/)
          expect(yield* summary(through), path).toEqual(yield* summary(yield* direct(path, init)))
        }
        // A handler that throws is a 500 saying why; the VM goes on.
        const thrown = yield* call(`${url}/throw`)
        expect([thrown.status, yield* Effect.promise(() => thrown.text())]).toEqual([500, "internal error: kaboom"])
        // Headers reach the VM with their values, whatever case the client used.
        const seen = yield* call(`${url}/headers`, { headers: { "X-Custom": "one", "content-TYPE": "text/csv" } })
        const json = (yield* Effect.promise(() => seen.json())) as Record<string, string>
        expect(json).toMatchObject({ "x-custom": "one", "content-type": "text/csv" })
        // Routes are exact, as upstream mounts them; unknown chains are 404 too.
        expect((yield* call(`${url}/echo/more`)).status).toBe(404)
        expect((yield* call(url.replace(Ids.toString(chainId), Ids.toString(chainIdOf(71))))).status).toBe(404)
        // The chain's name routes too.
        expect((yield* call(`${url.replace(Ids.toString(chainId), "web")}/echo?status=202`)).status).toBe(202)
      })
    ))

  it.live("a 10 MiB body both ways, whole (HandleSimple) and streamed (chunked upload through Handle)", () =>
    withChain((url) =>
      Effect.gen(function*() {
        const body = bigBody()
        const whole = yield* call(`${url}/echo`, { method: "POST", body })
        const back = new Uint8Array(yield* Effect.promise(() => whole.arrayBuffer()))
        expect([whole.status, back.length, sha(back)]).toEqual([200, body.length, sha(body)])
        const chunks = new ReadableStream<Uint8Array>({
          start: (controller) => {
            for (let i = 0; i < body.length; i += 256 * 1024) controller.enqueue(body.subarray(i, i + 256 * 1024))
            controller.close()
          }
        })
        const streamed = yield* call(`${url}/echo`, { method: "POST", body: chunks, duplex: "half" } as RequestInit)
        const echoed = new Uint8Array(yield* Effect.promise(() => streamed.arrayBuffer()))
        expect([streamed.status, echoed.length, sha(echoed)]).toEqual([200, body.length, sha(body)])
      })
    ))

  it.live("with stream \"always\", a response arrives chunk by chunk while the handler is still writing", () =>
    withChain(
      (url) =>
        Effect.gen(function*() {
          // 1,000 chunks 50 ms apart take 50 s: only a streamed response shows its first ones in time.
          const controller = new AbortController()
          const response = yield* call(`${url}/stream?chunks=1000&delay=50`, { signal: controller.signal })
          expect(response.status).toBe(200)
          const reader = response.body!.getReader()
          let text = ""
          while (!text.includes("chunk 2\n")) {
            const { value } = yield* Effect.promise(() => reader.read())
            text += new TextDecoder().decode(value)
          }
          expect(text.startsWith("chunk 0\nchunk 1\nchunk 2\n")).toBe(true)
          controller.abort()
          // The rest of the answers go through Handle too and match.
          const echo = yield* call(`${url}/echo?status=201`, { method: "POST", body: "streamed" })
          expect(yield* summary(echo)).toEqual(yield* summary(yield* direct("/echo?status=201", { method: "POST", body: "streamed" })))
          const fail = yield* call(`${url}/fail`)
          expect([fail.status, yield* Effect.promise(() => fail.text())]).toEqual([500, "broken"])
        }),
      { stream: "always" }
    ))

  it.live("a client that goes away cancels the VM's handler (whole and streamed)", () =>
    Effect.gen(function*() {
      for (const stream of ["auto", "always"] as const) {
        yield* withChain((url) =>
          Effect.gen(function*() {
            const controller = new AbortController()
            const pending = Effect.runPromise(call(`${url}/hang`, { signal: controller.signal })).catch(() => "aborted")
            yield* Effect.sleep("300 millis")
            controller.abort()
            expect(yield* Effect.promise(() => pending)).toBe("aborted")
            expect(yield* cancelledReaches(url, 1), stream).toBe(1)
          }), { stream })
      }
    }))

  it.live("a VM slower than the timeout gets 504; the chain's routes answer 503 until its VM runs", () =>
    withChain(
      (url) =>
        Effect.gen(function*() {
          const slow = yield* call(`${url}/slow?ms=5000`)
          expect(slow.status).toBe(504)
          expect(yield* Effect.promise(() => slow.text())).toMatch(/did not answer within 300 ms/)
          expect((yield* call(`${url}/slow?ms=10`)).status).toBe(200)
          // A chain registered but not mounted: 503, as a chain that is not done bootstrapping.
          const gateway = yield* HttpGateway
          yield* Effect.scoped(Effect.gen(function*() {
            yield* gateway.register({ chainId: chainIdOf(72) })
            const waiting = yield* call(`${gateway.url}/ext/bc/${Ids.toString(chainIdOf(72))}/echo`)
            expect(waiting.status).toBe(503)
            expect(yield* Effect.promise(() => waiting.text())).toBe("API call rejected because chain is not done bootstrapping\n")
          }))
        }),
      { timeout: "300 millis" }
    ))

  it.live("avalanchego's header-routed handler: any path with Avalanche-Api-Route: <chain ID>; empty 400, unknown 404", () =>
    withChain((url) =>
      Effect.gen(function*() {
        const root = url.slice(0, url.indexOf("/ext/bc/"))
        const routed = yield* call(`${root}/any/path?x=1`, { headers: { "Avalanche-Api-Route": Ids.toString(chainId) } })
        expect([routed.status, yield* Effect.promise(() => routed.text())]).toEqual([200, "header-routed /any/path"])
        expect((yield* call(`${root}/any`, { headers: { "Avalanche-Api-Route": "" } })).status).toBe(400)
        expect((yield* call(`${root}/any`, { headers: { "Avalanche-Api-Route": Ids.toString(chainIdOf(79)) } })).status).toBe(404)
        // The header wins over the path, as upstream routes it.
        const both = yield* call(`${url}/echo`, { headers: { "Avalanche-Api-Route": Ids.toString(chainId) } })
        expect(yield* Effect.promise(() => both.text())).toBe(`header-routed ${base}/echo`)
      })
    ))

  it.live("handlers a VM names on another machine, or under a prefix that is not a path, are not mounted; the rest are", () =>
    withChain(
      (url) =>
        Effect.gen(function*() {
          expect((yield* call(`${url}/foreign`)).status).toBe(404)
          expect((yield* call(`${url}no slash`)).status).toBe(404)
          expect((yield* call(`${url}/echo?status=203`)).status).toBe(203)
        }),
      { plugin: `HTTP_VM_HOSTILE=1 exec ${process.execPath} ${httpVm}` }
    ))

  it.live("luxd flavour: bodies travel inline in Handle; the 503 has no body", () =>
    withChain(
      (url) =>
        Effect.gen(function*() {
          const body = bigBody().subarray(0, 1024 * 1024)
          const echoed = yield* call(`${url}/echo`, { method: "POST", body })
          const back = new Uint8Array(yield* Effect.promise(() => echoed.arrayBuffer()))
          expect([echoed.status, sha(back)]).toEqual([200, sha(body)])
          const gateway = yield* HttpGateway
          yield* Effect.scoped(Effect.gen(function*() {
            yield* gateway.register({ chainId: chainIdOf(73) })
            const waiting = yield* call(`${gateway.url}/ext/bc/${Ids.toString(chainIdOf(73))}`)
            expect([waiting.status, yield* Effect.promise(() => waiting.text())]).toEqual([503, ""])
          }))
        }),
      { flavour: "luxd", stream: "always" }
    ))
})

describe.skipIf(skipGo)("HTTP over gRPC with the Go peers (grpc-go)", () => {
  const go = { plugin: `exec ${goPluginPath}` }
  type Described = { method: string; path: string; query: string; contentType: string; custom: string; bodyLength: number; bodySha256: string }
  const described = (response: Response) => Effect.promise(() => response.json() as Promise<Described>)

  it.live("HandleSimple: the Go handler sees canonical headers, the full path and the body; a 500 comes back with its body", () =>
    withChain((url) =>
      Effect.gen(function*() {
        const body = bigBody()
        const posted = yield* call(`${url}/go?a=1`, {
          method: "POST",
          body,
          headers: { "content-type": "application/x-test", "x-custom": "lower-case sent" }
        })
        expect(posted.status).toBe(200)
        expect(posted.headers.get("x-go")).toBe("yes")
        expect(yield* described(posted)).toEqual({
          method: "POST",
          path: `${base}/go`,
          query: "a=1",
          contentType: "application/x-test",
          custom: "lower-case sent",
          bodyLength: body.length,
          bodySha256: sha(body)
        })
        const created = yield* call(`${url}/go?status=201`)
        expect(created.status).toBe(201)
        // Go VMs answer a 500 as a gRPC error carrying the response: the node unpacks it.
        const failed = yield* call(`${url}/go?status=500`, { method: "PUT", body: "x" })
        expect(failed.status).toBe(500)
        expect(failed.headers.get("x-go")).toBe("yes")
        expect(yield* described(failed)).toMatchObject({ method: "PUT", bodyLength: 1 })
      }), go))

  it.live("Handle: a chunked upload read through the node's io.reader, a response written through its response writer", () =>
    withChain((url) =>
      Effect.gen(function*() {
        const body = bigBody()
        const chunks = new ReadableStream<Uint8Array>({
          start: (controller) => {
            for (let i = 0; i < body.length; i += 100_000) controller.enqueue(body.subarray(i, i + 100_000))
            controller.close()
          }
        })
        const streamed = yield* call(`${url}/go`, { method: "POST", body: chunks, duplex: "half", headers: { "x-custom": "streamed" } } as RequestInit)
        expect(streamed.status).toBe(200)
        expect(yield* described(streamed)).toMatchObject({ custom: "streamed", bodyLength: body.length, bodySha256: sha(body) })
      }), go))

  it.live("stream \"always\": every request through Handle, flushed chunks and statuses as the handler wrote them", () =>
    withChain((url) =>
      Effect.gen(function*() {
        const lines = yield* call(`${url}/go?chunks=5&status=202`)
        expect([lines.status, lines.headers.get("x-go"), yield* Effect.promise(() => lines.text())]).toEqual([
          202,
          "yes",
          [0, 1, 2, 3, 4].map((i) => `go chunk ${i}\n`).join("")
        ])
        const posted = yield* call(`${url}/go`, { method: "POST", body: "through handle", headers: { "content-type": "text/x-mine" } })
        expect(yield* described(posted)).toMatchObject({ contentType: "text/x-mine", bodyLength: 14, path: `${base}/go` })
      }), { ...go, stream: "always" }))

  it.live("the SDK's handlers under the Go node: a 500 unpacked from the gRPC error's detail, streamed echo, a throwing handler", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("vmre-http-go-host-")
      const plugin = writeScript(dir, "http-vm", `exec ${process.execPath} ${httpVm}`)
      const genesis = `${dir}/genesis.json`
      writeFileSync(genesis, JSON.stringify({ minPayloadsPerBlock: 0 }))
      const { result, stderr } = yield* runGoHost(
        ["-exercise", "-genesis", genesis, "-http", "simple:GET:/fail", "-http", "stream:PUT:/echo?status=201:sent by go", "-http", "simple:GET:/throw"],
        plugin
      )
      expect(result, stderr).toMatchObject({ ok: true })
      const [fail, echo, thrown] = result.http
      expect(fail).toMatchObject({ status: 500, body: "broken", headers: { "X-Why": ["on purpose"] } })
      expect(echo).toMatchObject({ status: 201, body: "sent by go", headers: { "X-Method": ["PUT"], "X-Body-Length": ["10"] } })
      expect(thrown).toMatchObject({ status: 500, body: "internal error: kaboom" })
    }).pipe(Effect.scoped))
})
