/** A peer's client name and semantic version, as `vm.VM/Connected` carries it. */
export interface PeerVersion {
  readonly name: string
  readonly major: number
  readonly minor: number
  readonly patch: number
}
