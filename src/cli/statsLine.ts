/** One answer's statistics as the CLI prints them on stderr. */
import type { AskSideResult } from '../engine/ask';

export function statsLine(r: AskSideResult): string {
  return `[${r.tokens.length} tokens, ${r.msPerToken.toFixed(1)} ms/token, ${(r.totalMs / 1000).toFixed(2)} s, stop: ${r.stopReason}]`;
}
