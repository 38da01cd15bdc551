/** One answer's statistics as the CLI prints them on stderr. */
import type { AskSideResult } from '../engine/ask';

export function statsLine(r: AskSideResult): string {
  // msPerToken is NaN when no decoding step ran (a budget of one token, or EOS first).
  const ms = Number.isFinite(r.msPerToken) ? r.msPerToken.toFixed(1) : '—';
  return `[${r.tokens.length} tokens, ${ms} ms/token, ${(r.totalMs / 1000).toFixed(2)} s, stop: ${r.stopReason}]`;
}
