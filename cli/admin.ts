// pgfailover, as installed on a host from the release (dist/bin/pgfailover.mjs): the administrator's
// program without the local mode, which needs the repository (dynalite, PostgreSQL test clusters).

import { adminProgram, runProgram } from './program.ts';

await runProgram(adminProgram());
