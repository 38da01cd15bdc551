/**
 * The repeat penalty of llama.cpp and Ollama: before each pick, the logit of every token among the
 * last `lastN` tokens of the context (prompt and answer) is divided by `penalty` when positive and
 * multiplied by it when negative, however often the token came. Small models decoding greedily fall
 * into loops after a few hundred tokens, and steered answers are that long; this is the usual remedy.
 * Off unless asked for: the paper decodes without it.
 */
import { KvsteerError } from '../util/errors';

export interface RepeatPenalty {
  /** 1 is off; llama.cpp's and Ollama's usual value is 1.1. */
  penalty: number;
  /** How many of the latest context tokens count (Ollama's default 64). */
  lastN: number;
}

/** Ollama's default window, used when a penalty is asked for without one. */
export const DEFAULT_REPEAT_LAST_N = 64;

export const REPEAT_PENALTY_LIMITS = { minPenalty: 1, maxPenalty: 2, minLastN: 1, maxLastN: 32768 } as const;

/** Throws INVALID_ARGUMENT for a penalty outside [1, 2] or a window that is not a positive integer. */
export function checkRepeatPenalty(p: RepeatPenalty): void {
  const L = REPEAT_PENALTY_LIMITS;
  if (!Number.isFinite(p.penalty) || p.penalty < L.minPenalty || p.penalty > L.maxPenalty) {
    throw new KvsteerError('INVALID_ARGUMENT', `the repeat penalty must be a number between ${L.minPenalty} (off) and ${L.maxPenalty} (got ${p.penalty})`);
  }
  if (!Number.isInteger(p.lastN) || p.lastN < L.minLastN || p.lastN > L.maxLastN) {
    throw new KvsteerError('INVALID_ARGUMENT', `the repeat-penalty window must be a whole number of tokens between ${L.minLastN} and ${L.maxLastN} (got ${p.lastN})`);
  }
}

/** True when the penalty changes nothing (absent or 1). */
export function isRepeatPenaltyOff(p: RepeatPenalty | undefined): boolean {
  return p === undefined || p.penalty === 1;
}

/**
 * Applies the penalty in place. `context` is every token fed or generated so far, oldest first;
 * each distinct token of its last `lastN` is penalised once.
 */
export function penalizeRepeats(logits: Float32Array, context: readonly number[], p: RepeatPenalty): void {
  if (p.penalty === 1) return;
  const seen = new Set<number>();
  for (let i = Math.max(0, context.length - p.lastN); i < context.length; i++) {
    const t = context[i];
    if (seen.has(t) || t < 0 || t >= logits.length) continue;
    seen.add(t);
    const l = logits[t];
    logits[t] = l > 0 ? l / p.penalty : l * p.penalty;
  }
}
