#!/usr/bin/env node
// The vmre command. Checks the Node version before importing anything: vmre is TypeScript run
// by Node's type stripping (Node >= 22.18), and outside npm scripts `node` may be an older
// system Node.
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `vmre needs Node >= 22.18, but ${process.execPath} is ${process.version}.\n` +
      "Run it through npm (npx vmre ..., npm start -- ...), which puts the project's pinned Node first on PATH.\n"
  )
  process.exit(1)
}
await import("../src/main.ts")
