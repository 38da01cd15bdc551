/**
 * What "Insert" in the side-by-side view writes into the editor the question came from. VS Code-free.
 * An answer to a selection goes on lines of its own after it, a blank line between; an answer to a
 * typed question goes in at the cursor as it is.
 */
export function insertionText(answer: string, afterSelection: boolean, atLineStart: boolean): string {
  const text = answer.replace(/\s+$/, '');
  if (!afterSelection) return text;
  return atLineStart ? `\n${text}\n` : `\n\n${text}`;
}
