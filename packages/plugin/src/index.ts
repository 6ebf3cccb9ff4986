export * as Main from "./Main.ts"
export * as Serve from "./Serve.ts"
