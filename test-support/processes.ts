/** Process checks shared by the test suites. */

import { Main } from "@vmre/plugin"

/** Whether a process with this pid exists: the SDK's own check (EPERM counts as alive). */
export const isAlive = Main.isAlive
