// Poll with a deadline: the only way these tests wait. Never a sleep used as an assertion.
export { waitFor as pollUntil } from '../../cli/local/processes.ts';
