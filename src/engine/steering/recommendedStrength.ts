/**
 * Which strength a steering vector recommends for the way an answer is decoded. A vector records
 * one strength for the paper's plain decoding, and may record others measured with llama.cpp's
 * repeat penalty on: the penalty keeps a stronger edit from looping, so its best strength is
 * higher. Such an entry holds only for the penalty and window it was measured with; any other
 * setting gets the plain recommendation.
 */
import { KvsteerError } from '../util/errors';
import { RepeatPenalty, checkRepeatPenalty, isRepeatPenaltyOff } from '../generation/repeatPenalty';
import { MAX_COEFFICIENT } from './limits';
import type { SteeringStrength } from './applySteering';

/** A strength measured with a repeat penalty on, and what it was measured on. */
export interface PenaltyRecommendation extends RepeatPenalty {
  cK: number;
  cV: number;
  /** Where the figure comes from (benchmark rows, loop rate), for people reading the metadata. */
  evidence?: string;
}

export interface Recommendation {
  cK: number;
  cV: number;
  offsetToken: string;
  fromLayer: number;
  /** Strengths for decoding with a repeat penalty (absent in vectors made before this field). */
  withRepeatPenalty?: PenaltyRecommendation[];
}

/** The recommended c_k and c_v for decoding with `repeatPenalty` (undefined or 1: none). */
export function recommendedStrength(rec: Recommendation, repeatPenalty?: RepeatPenalty): { cK: number; cV: number; forPenalty?: RepeatPenalty } {
  if (!isRepeatPenaltyOff(repeatPenalty)) {
    const match = rec.withRepeatPenalty?.find((r) => r.penalty === repeatPenalty!.penalty && r.lastN === repeatPenalty!.lastN);
    if (match) return { cK: match.cK, cV: match.cV, forPenalty: { penalty: match.penalty, lastN: match.lastN } };
  }
  return { cK: rec.cK, cV: rec.cV };
}

/**
 * The strength to steer with: what the user gave (flags or settings), else the vector's
 * recommendation for `repeatPenalty`. The one rule for the CLI's ask, chat and eval and the
 * extension's service.
 */
export function strengthFor(rec: Recommendation, repeatPenalty: RepeatPenalty | undefined, given: { cK?: number | null; cV?: number | null; layers?: number[] }): SteeringStrength {
  const r = recommendedStrength(rec, repeatPenalty);
  return { cK: given.cK ?? r.cK, cV: given.cV ?? r.cV, layers: given.layers };
}

/** Throws VECTOR_INVALID, naming the vector, for a recommendation that could not be applied. */
export function checkRecommendation(rec: Recommendation, label: string): void {
  const bad = (why: string) => new KvsteerError('VECTOR_INVALID', `${label}: ${why}`);
  const coefficient = (c: unknown) => typeof c === 'number' && Number.isFinite(c) && Math.abs(c) <= MAX_COEFFICIENT;
  if (typeof rec !== 'object' || rec === null || !coefficient(rec.cK) || !coefficient(rec.cV)) throw bad(`the recommended strength must be finite numbers within ±${MAX_COEFFICIENT}`);
  if (typeof rec.offsetToken !== 'string' || rec.offsetToken === '') throw bad('the recommended offset token must be a non-empty string');
  if (!Number.isInteger(rec.fromLayer) || rec.fromLayer < 0) throw bad(`the recommended first layer must be a whole number ≥ 0 (is ${JSON.stringify(rec.fromLayer)})`);
  if (rec.withRepeatPenalty === undefined) return;
  if (!Array.isArray(rec.withRepeatPenalty)) throw bad('withRepeatPenalty must be a list');
  for (const [i, r] of rec.withRepeatPenalty.entries()) {
    if (!coefficient(r?.cK) || !coefficient(r?.cV)) throw bad(`withRepeatPenalty[${i}]: the strength must be finite numbers within ±${MAX_COEFFICIENT}`);
    try {
      checkRepeatPenalty(r);
    } catch (e) {
      throw bad(`withRepeatPenalty[${i}]: ${(e as Error).message}`);
    }
    if (isRepeatPenaltyOff(r)) throw bad(`withRepeatPenalty[${i}]: penalty 1 is no penalty; that strength belongs in cV`);
  }
}
