/**
 * The loop measure shared by the evaluation (loop rate) and generation (the optional stop when an
 * answer has fallen into repetition): a word n-gram that occurs `times` times.
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

/** A word with a letter or a digit: a run of table rules (`| --- |`) or closing braces is layout. */
const isWord = (w: string) => /[\p{L}\p{N}]/u.test(w);

/**
 * The generation stop's measure: hasLoop over the words that hold a letter or a digit, so that a
 * Markdown table's separator row (`| --- |` six times) or nested closing braces, whose "words"
 * repeat by design, do not end an answer there.
 */
export function hasWordLoop(text: string, n = 4, times = 5): boolean {
  return hasLoop(text.split(/\s+/).filter(isWord).join(' '), n, times);
}
