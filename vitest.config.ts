import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Inside the repository the packages resolve to their TypeScript sources (the `@vmre/source`
// export condition), so tests never run a stale build; installed, they resolve to dist/.
// Without "module": packages that point it at a bundler-only ESM build (OpenTelemetry's imports
// files without extensions) load their Node build instead, as Node itself would.
const conditions = ["@vmre/source", ...defaultServerConditions.filter((c) => c !== "module")]

if (Number(process.versions.node.split(".")[0]) < 22) {
  throw new Error(
    `vmre needs Node >= 22 but this is ${process.version}: run tests through npm (npm test), ` +
      "which uses the pinned node from node_modules/.bin"
  )
}

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@vmre/source"] } },
  test: {
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ["./test-support/global-setup.ts"],
    projects: [
      {
        extends: true,
        test: { name: "vmre", include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"] }
      },
      // The suites of both gRPC ends again over Connect's engine (the reference and fallback; vmre's
      // own, H2Transport and H2Handler, is the default): the ChainVm client against grpc-go,
      // grpc-js and Connect servers, failures, hostile peers and large messages; the SDK's and
      // rpcdb's servers under hostile input, grpc-js and Connect clients.
      {
        extends: true,
        test: {
          name: "connect-engine",
          env: { VMRE_GRPC_ENGINE: "connect" },
          include: [
            "packages/runtime/test/ChainVmInterop.test.ts",
            "packages/runtime/test/GoChainVm.test.ts",
            "packages/runtime/test/ChainVmProcess.test.ts",
            "packages/runtime/test/ChainVmClient.test.ts",
            "packages/runtime/test/ChainVmClientFailures.test.ts",
            "packages/runtime/test/ClientHostile.test.ts",
            "packages/runtime/test/ChainVmLarge.test.ts",
            "packages/plugin/test/**/*.test.ts",
            "packages/rpcdb/test/**/*.test.ts",
            "packages/transport/test/**/*.test.ts",
            "examples/payload-chain/test/Rpc.test.ts"
          ]
        }
      }
    ]
  }
})
