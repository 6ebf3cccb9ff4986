// The parser ships no types; test-support/prometheus.ts gives its result a shape.
declare module "parse-prometheus-text-format" {
  const parse: (text: string) => unknown
  export default parse
}
