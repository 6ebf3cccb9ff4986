import * as P from "./bench/lib/cpuprofile.ts"
const f = process.argv[2]!
console.log(P.format(f, P.summarize([f], 40)))
