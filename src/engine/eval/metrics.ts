/**
 * Per-answer and aggregate measures for the evaluation: loops (a 4-gram repeated at least five
 * times), word counts, and mean ± standard deviation.
 */

export { hasLoop } from '../generation/repetition';

export function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Sample standard deviation (0 for a single value). */
export function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}
