/**
 * The plugin executable's program (bin/payload-chain runs it with the pinned Node):
 * serve payload-chain to the node that started us, with the upstream signal behaviour.
 */
import { runPlugin } from "@vmre/plugin"
import * as PayloadChain from "./PayloadChain.ts"

runPlugin(PayloadChain.make)
