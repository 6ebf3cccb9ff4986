import { defineConfig } from "vitest/config"

if (Number(process.versions.node.split(".")[0]) < 22) {
  throw new Error(
    `vmre needs Node >= 22 but this is ${process.version}: run tests through npm (npm test), ` +
      "which uses the pinned node from node_modules/.bin"
  )
}

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ["./test-support/global-setup.ts"]
  }
})
