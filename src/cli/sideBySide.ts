/**
 * Renders two answers side by side in a terminal: word-wrapped columns under their titles, then
 * aligned statistic rows. Plain text, no colours, so it also reads well when piped to a file.
 */
import { cutSplitsPair } from '../engine/util/surrogatePairs';

export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/(\s+)/).filter((w) => w.length)) {
      if (/^\s+$/.test(word)) {
        if (line.length) line += ' ';
        continue;
      }
      let w = word;
      while (w.length > width) {
        if (line.trim().length) lines.push(line.trimEnd());
        // Cut before a surrogate pair that would not fit whole (an emoji is two UTF-16 units).
        const cut = cutSplitsPair(w, width) && width > 1 ? width - 1 : width;
        lines.push(w.slice(0, cut));
        w = w.slice(cut);
        line = '';
      }
      if ((line + w).length > width) {
        lines.push(line.trimEnd());
        line = w;
      } else line += w;
    }
    lines.push(line.trimEnd());
  }
  return lines;
}

export function sideBySide(
  left: { title: string; text: string; stats: [string, string][] },
  right: { title: string; text: string; stats: [string, string][] },
  totalWidth: number,
): string {
  const gap = ' │ ';
  const col = Math.max(20, Math.floor((totalWidth - gap.length) / 2));
  const pad = (s: string) => s + ' '.repeat(Math.max(0, col - s.length));
  const rule = '─'.repeat(col) + '─┼─' + '─'.repeat(col);
  const a = wrap(left.text, col);
  const b = wrap(right.text, col);
  const out = [pad(left.title) + gap + right.title, rule];
  for (let i = 0; i < Math.max(a.length, b.length); i++) out.push((pad(a[i] ?? '') + gap + (b[i] ?? '')).trimEnd());
  out.push(rule);
  const stat = (s: [string, string]) => `${s[0]}: ${s[1]}`;
  for (let i = 0; i < Math.max(left.stats.length, right.stats.length); i++) {
    out.push((pad(left.stats[i] ? stat(left.stats[i]) : '') + gap + (right.stats[i] ? stat(right.stats[i]) : '')).trimEnd());
  }
  return out.join('\n');
}
