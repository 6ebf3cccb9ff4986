/**
 * Where luxd's node services differ from avalanchego's on the wire, as service descriptors a
 * Connect server or client can use in place of the generated ones.
 *
 * `validatorstate.ValidatorState`: luxd numbers three fields of `Validator` differently
 * (is_active 5, validation_id 6, min_nonce 7), and GetCurrentValidatorSet is the one RPC that
 * fills them. `LuxdValidatorState` is the generated service with that method's answer in luxd's
 * numbering (`LuxdGetCurrentValidatorSetResponse`); paths and every other message are the same.
 */
import {
  LuxdGetCurrentValidatorSetResponseSchema,
  ValidatorState
} from "@vmre/proto/validatorstate/validatorstate_pb"

const current = ValidatorState.method.getCurrentValidatorSet
const luxdCurrent = { ...current, output: LuxdGetCurrentValidatorSetResponseSchema }

export const LuxdValidatorState = {
  ...ValidatorState,
  methods: ValidatorState.methods.map((m) => (m === current ? luxdCurrent : m)),
  method: { ...ValidatorState.method, getCurrentValidatorSet: luxdCurrent }
}
