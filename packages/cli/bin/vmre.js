#!/usr/bin/env node
// The vmre command. Checks the Node version before importing anything: outside npm scripts
// `node` may be an older system Node.
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `vmre needs Node >= 22.18, but ${process.execPath} is ${process.version}.\n` +
      "Run it with a newer Node (inside the vmre repository: through npm, npx vmre ..., which uses the pinned one).\n"
  )
  process.exit(1)
}
// A signal during start-up (loading the modules takes a moment) is kept, not fatal: it is
// handed to the command's own handlers once they exist, so that it ends the way any Ctrl-C does.
const early = []
const keep = (signal) => early.push(signal)
process.on("SIGINT", keep)
process.on("SIGTERM", keep)
// `ps` shows vmre, not node (and a test can tell from outside that the handlers exist).
process.title = "vmre"
// Installed, the command runs its build (dist/). Inside the repository, a Node started with
// --conditions=@vmre/source runs the TypeScript sources, as the packages it imports then do.
const fromSource = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)]
  .some((arg) => arg.includes("@vmre/source"))
await import(fromSource ? "../src/main.ts" : "../dist/main.js")
process.off("SIGINT", keep)
process.off("SIGTERM", keep)
// The command's handlers are installed by now (its runtime starts when main is imported).
for (const signal of early.splice(0)) process.kill(process.pid, signal)
