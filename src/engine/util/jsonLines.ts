/**
 * JSON Lines as the data readers take them (contrastive pairs, evaluation data, rows to re-score):
 * one JSON object per line, blank lines and a leading byte order mark passed over, every other line either its object or the
 * reason it is not one, with its 1-based line number for the message.
 */

export type JsonLine = { line: number; row: Record<string, unknown> } | { line: number; error: 'not valid JSON' | 'not a JSON object' };

export function jsonLines(text: string): JsonLine[] {
  const out: JsonLine[] = [];
  // A byte order mark (Windows editors save UTF-8 with one) is not part of the first line's JSON.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch {
      out.push({ line, error: 'not valid JSON' });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) out.push({ line, error: 'not a JSON object' });
    else out.push({ line, row: value as Record<string, unknown> });
  }
  return out;
}
