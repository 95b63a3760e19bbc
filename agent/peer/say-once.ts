// A log line said once rather than at every round or datagram: what peer leases report about each member
// (a refusal, a bad signature) repeats several times a second while it lasts.

/** How many distinct lines are remembered; past it they are forgotten (and may be said again), not grown. */
const REMEMBERED = 200;

/** A function that says each distinct line through `say` once. */
export function sayOnce(say: (line: string) => void): (line: string) => void {
  const said = new Set<string>();
  return (line) => {
    if (said.has(line)) return;
    if (said.size >= REMEMBERED) said.clear();
    said.add(line);
    say(line);
  };
}
