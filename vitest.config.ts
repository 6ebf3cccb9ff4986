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
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ["./test-support/global-setup.ts"]
  }
})
