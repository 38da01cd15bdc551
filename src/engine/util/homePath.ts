/** `~`, `~/…` and `~\…` (as Windows spells it) name the home folder, as in a shell. */
import * as os from 'node:os';
import * as path from 'node:path';

/** `p` with a leading `~`, `~/` or `~\` replaced by the home folder; any other path as it is. */
export function expandHome(p: string): string {
  return p === '~' || /^~[\\/]/.test(p) ? path.join(os.homedir(), p.slice(2)) : p;
}
