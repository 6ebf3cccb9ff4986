/**
 * `grpc.health.v1.Health`, which every server on the rpcchainvm wire registers with
 * SERVING for the service "".
 */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect"
import { Health, HealthCheckResponse_ServingStatus } from "@vmre/proto/grpc/health/v1/health_pb"

const { SERVING, SERVICE_UNKNOWN } = HealthCheckResponse_ServingStatus

/** Registers the health service: SERVING for "" and for each of `services`. */
export const register = (router: ConnectRouter, services: ReadonlyArray<string> = []): void => {
  const known = new Set(["", ...services])
  router.service(Health, {
    check: (request) => {
      if (!known.has(request.service)) throw new ConnectError("unknown service", Code.NotFound)
      return { status: SERVING }
    },
    // Statuses never change while a server runs: send the current one, then hold the stream.
    async *watch(request, context) {
      yield { status: known.has(request.service) ? SERVING : SERVICE_UNKNOWN }
      await new Promise<void>((resolve) => {
        if (context.signal.aborted) return resolve()
        context.signal.addEventListener("abort", () => resolve(), { once: true })
      })
    }
  })
}
