/**
 * Text attached to a question (`@kvsteer`'s #selection and #file, `kvsteer ask --file`) as the
 * model reads it: each attachment in a fenced block under its name, then the question. A light
 * module (no ONNX Runtime): the editor imports it directly.
 *
 * A small model on a CPU reads every attached character at prefill time, so the attachments share a
 * budget; what does not fit is cut, and the caller says so.
 */
import { cutSplitsPair } from './util/surrogatePairs';

export interface PromptAttachment {
  /** What the user knows it as: a (workspace-relative) path, with lines for a range. */
  name: string;
  text: string;
  /** Why it could not be read as text (it is then left out, and the response says so). */
  unreadable?: string;
}

/** Characters of attached text per request (about 2,000–2,700 tokens of code or prose). */
export const MAX_ATTACHED_CHARS = 8000;

export interface AttachedPrompt {
  /** The user's turn as the model reads it. */
  content: string;
  /** The attachments that reached the model, each with what happened to it when it did not fit. */
  used: { name: string; note?: string }[];
  /** Attachments left out (unreadable, empty, or no budget left). */
  leftOut: { name: string; why: string }[];
}

/** A fence longer than any run of backticks in `text`, so the block cannot end early. */
function fenceFor(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(Math.max(3, longest + 1));
}

/** The first `n` UTF-16 units of `text`, one fewer when the last would be half a surrogate pair (an emoji). */
function cutAt(text: string, n: number): string {
  return text.slice(0, cutSplitsPair(text, n) ? n - 1 : n);
}

export function attachToPrompt(prompt: string, attachments: readonly PromptAttachment[], maxChars = MAX_ATTACHED_CHARS): AttachedPrompt {
  const used: AttachedPrompt['used'] = [];
  const leftOut: AttachedPrompt['leftOut'] = [];
  const blocks: string[] = [];
  let left = maxChars;
  for (const a of attachments) {
    if (a.unreadable || !a.text.trim()) {
      leftOut.push({ name: a.name, why: a.unreadable ?? 'empty' });
      continue;
    }
    if (left <= 0) {
      leftOut.push({ name: a.name, why: `the ${maxChars}-character budget for attachments is used` });
      continue;
    }
    const cut = a.text.length > left;
    const text = cut ? cutAt(a.text, left) : a.text;
    if (!text) {
      leftOut.push({ name: a.name, why: `the ${maxChars}-character budget for attachments is used` });
      continue;
    }
    left -= text.length;
    const fence = fenceFor(text);
    blocks.push(`${a.name}:\n${fence}\n${text.replace(/\n$/, '')}\n${fence}`);
    used.push(cut ? { name: a.name, note: `cut to its first ${text.length} characters` } : { name: a.name });
  }
  return { content: [...blocks, prompt.trim() ? prompt : ''].filter(Boolean).join('\n\n'), used, leftOut };
}

/** One line naming what was attached and what was cut or left out ("Attached: …"). */
export function attachmentsLine(a: AttachedPrompt): string | undefined {
  const parts = [
    ...a.used.map((u) => (u.note ? `${u.name} (${u.note})` : u.name)),
    ...a.leftOut.map((l) => `${l.name} left out (${l.why})`),
  ];
  return parts.length ? `Attached: ${parts.join(', ')}` : undefined;
}
