// pgfailover, as run from the repository: the administrator's program (cli/program.ts) and the local mode.

import { addLocalCommands } from './local/local-commands.ts';
import { adminProgram, runProgram } from './program.ts';

const program = adminProgram();
addLocalCommands(program);
await runProgram(program);
