/** Cutting text by UTF-16 units without splitting a character made of two (an emoji, rare CJK). */

/** Whether cutting `text` after its first `n` UTF-16 units would leave half a surrogate pair. */
export function cutSplitsPair(text: string, n: number): boolean {
  const c = text.charCodeAt(n - 1);
  return c >= 0xd800 && c <= 0xdbff;
}
