/** One answer's statistics as the CLI prints them on stderr. */
import type { AskSideResult } from '../engine/ask';
import { formatMsPerToken } from '../engine/generation/formatMsPerToken';

export function statsLine(r: AskSideResult): string {
  return `[${r.tokens.length} tokens, ${formatMsPerToken(r.msPerToken)} ms/token, ${(r.totalMs / 1000).toFixed(2)} s, stop: ${r.stopReason}]`;
}
