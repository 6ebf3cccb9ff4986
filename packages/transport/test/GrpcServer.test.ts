import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { connect } from "node:net"
import { GrpcServer, Health } from "../src/index.ts"

/** Opens a TCP connection and resolves with how long the server kept it open (bounded). */
const holdSilent = (address: string, boundMillis: number) =>
  Effect.callback<number>((resume) => {
    const [host, port] = address.split(":")
    const startedAt = Date.now()
    const socket = connect(Number(port), host!)
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(Date.now() - startedAt)))
    socket.resume()
    const bound = setTimeout(() => socket.destroy(), boundMillis)
    return Effect.sync(() => {
      clearTimeout(bound)
      socket.destroy()
    })
  })

describe("GrpcServer", () => {
  it.live("closes a connection that never sends the HTTP/2 preface", () =>
    Effect.gen(function*() {
      const server = yield* GrpcServer.serve((router) => Health.register(router), { prefaceTimeout: "200 millis" })
      const heldFor = yield* holdSilent(server.address, 5_000)
      expect(heldFor).toBeGreaterThanOrEqual(150)
      expect(heldFor).toBeLessThan(5_000)
    }).pipe(Effect.scoped))
})
