/**
 * Per-answer and aggregate measures for the evaluation: loops (a 4-gram repeated at least five
 * times), word counts, and mean ± standard deviation.
 */

/** True when some word 4-gram occurs at least `times` times: the answer has fallen into a loop. */
export function hasLoop(text: string, n = 4, times = 5): boolean {
  const words = text.split(/\s+/).filter(Boolean);
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const key = words.slice(i, i + n).join(' ');
    const c = (counts.get(key) ?? 0) + 1;
    if (c >= times) return true;
    counts.set(key, c);
  }
  return false;
}

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
