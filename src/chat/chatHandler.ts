/**
 * What `@kvsteer` does with a chat request, free of the `vscode` module: the participant in
 * participant.ts only adapts VS Code's request, stream and cancellation token to this function.
 * No command: the steered answer. `/compare`: baseline, then steered. `/baseline`: the plain model.
 * Earlier @kvsteer turns of the conversation go before the question, so a follow-up can refer to
 * them; what the request attaches (#selection, #file) goes into the question (promptAttachments.ts).
 * Errors and cancellation are reported in the response, never thrown at the chat view.
 */
import type { AskMode, AskResult, AskSideResult } from '../engine/ask';
import type { ChatMessage } from '../engine/model/chatTokenizer';
import { isCancellation } from '../engine/util/errors';
import { formatMsPerToken } from '../engine/generation/formatMsPerToken';
import { KvsteerSettings } from '../config/settingsSchema';
import { SteeringService } from '../service/steeringService';
import { CHAT_COMMANDS } from '../ids';
import { attachmentsLine, attachToPrompt, PromptAttachment } from '../engine/promptAttachments';

export interface ChatSink {
  progress(message: string): void;
  markdown(text: string): void;
}

export interface ChatOutcome {
  mode: AskMode;
  /** The question as typed (without attachments): what a follow-up button asks again. */
  question: string;
  result?: AskResult;
  error?: string;
  cancelled?: boolean;
  /** The answer a later turn sees as this turn's reply: the steered one, or the baseline's. */
  answer?: string;
}

/** A follow-up button: asks `prompt` again with `command` ('' for the steered answer). */
export interface ChatFollowup {
  prompt: string;
  label: string;
  command: string;
}

/**
 * The follow-up offered under an answer: the same question in the other mode (the steered
 * answer alone after a comparison; a comparison after one answer). None after an error or a cancel.
 */
export function chatFollowups(outcome: Pick<ChatOutcome, 'mode' | 'question' | 'error' | 'cancelled'>): ChatFollowup[] {
  if (outcome.error || outcome.cancelled || !outcome.question.trim()) return [];
  return outcome.mode === 'compare'
    ? [{ prompt: outcome.question, label: 'Steered answer only', command: '' }]
    : [{ prompt: outcome.question, label: 'Compare with the baseline', command: CHAT_COMMANDS.compare }];
}

/**
 * The earlier turns a request sees. Asking the last question again (a follow-up button, or typed
 * anew) asks it afresh: its own earlier exchange is left out, so the answers are the question's,
 * not a reply to the earlier answer.
 */
function historyFor(prompt: string, history: readonly ChatMessage[]): ChatMessage[] {
  const asked = history.at(-2);
  return asked?.role === 'user' && asked.content.trim() === prompt.trim() ? history.slice(0, -2) : [...history];
}

function modeFor(command: string | undefined): AskMode {
  if (command === CHAT_COMMANDS.compare) return 'compare';
  if (command === CHAT_COMMANDS.baseline) return 'baseline';
  return 'steered';
}

/**
 * The fence that closes a code block `text` leaves open, or '' when none is open. An answer cut
 * off inside a code block (the token budget, a cancel) would otherwise draw kvsteer's own lines
 * after it (the steered header, the statistics) as code.
 */
export function openFenceCloser(text: string): string {
  let open: { char: string; length: number } | undefined;
  for (const line of text.split('\n')) {
    const m = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (!m) continue;
    const [fence, rest] = [m[1], m[2]];
    if (!open) {
      // A backtick fence's info string may not contain a backtick.
      if (fence[0] === '~' || !rest.includes('`')) open = { char: fence[0], length: fence.length };
    } else if (fence[0] === open.char && fence.length >= open.length && !rest.trim()) open = undefined;
  }
  return open ? `\n${open.char.repeat(open.length)}\n` : '';
}

/**
 * `text` as literal markdown text on one line: every ASCII punctuation mark a markdown renderer
 * could read is escaped, and line breaks become spaces (a blank line would end the paragraph).
 */
export function markdownText(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').replace(/[\\`*_{}[\]()#+\-.!<>|~&]/g, '\\$&');
}

function stats(r: AskSideResult): string {
  return `_${r.tokens.length} tokens · ${formatMsPerToken(r.msPerToken)} ms/token · ${(r.totalMs / 1000).toFixed(1)} s${r.stopReason === 'cancelled' ? ' · cancelled' : ''}_`;
}

export async function handleChatRequest(
  request: { prompt: string; command?: string; history?: ChatMessage[]; attachments?: readonly PromptAttachment[] },
  sink: ChatSink,
  service: Pick<SteeringService, 'ask'>,
  settings: KvsteerSettings,
  signal: AbortSignal,
): Promise<ChatOutcome> {
  const mode = modeFor(request.command);
  if (!request.prompt.trim() && !request.attachments?.length) {
    sink.markdown('Ask a question after `@kvsteer`, e.g. `@kvsteer /compare Why is the sky blue?`');
    return { mode, question: request.prompt, error: 'empty prompt' };
  }
  const attached = attachToPrompt(request.prompt, request.attachments ?? []);
  const line = attachmentsLine(attached);
  if (line) sink.markdown(`_${line}_\n\n`);
  // The answer streamed since the last line of kvsteer's own: a code block it leaves open is closed first.
  let streamed = '';
  const closeAnswer = () => {
    const closer = openFenceCloser(streamed);
    if (closer) sink.markdown(closer);
    streamed = '';
  };
  try {
    const result = await service.ask(
      settings,
      {
        messages: [...historyFor(request.prompt, request.history ?? []), { role: 'user', content: attached.content }],
        fitHistory: true,
        mode,
        signal,
        onSideStart: (side) => {
          closeAnswer();
          if (mode === 'compare') sink.markdown(side === 'baseline' ? '**Baseline**\n\n' : '\n\n---\n\n**Steered**\n\n');
          sink.progress(side === 'baseline' ? 'Generating the baseline answer…' : 'Generating the steered answer…');
        },
        onToken: (_side, e) => {
          if (!e.textDelta) return;
          streamed += e.textDelta;
          sink.markdown(e.textDelta);
        },
      },
      (p) => sink.progress(p.message),
    );
    closeAnswer();
    if (result.baseline && mode === 'compare') sink.markdown(`\n\n${stats(result.baseline)}`);
    if (result.steered) sink.markdown(`\n\n${stats(result.steered)} · vector \`${result.steered.vector}\`, c_v ${result.steered.cV}, c_k ${result.steered.cK}`);
    else if (result.baseline && mode === 'baseline') sink.markdown(`\n\n${stats(result.baseline)}`);
    // A vector extracted on another model is used; the note says so, as text.
    if (result.steered?.vectorNote) sink.markdown(`\n\n_Note: ${markdownText(result.steered.vectorNote)}_`);
    if (result.steeredError) sink.markdown(`\n\n---\n\n**No steered answer:** ${result.steeredError}`);
    if (result.historyLeftOut) sink.markdown(`\n\n_The ${result.historyLeftOut} earliest messages of this conversation were left out, to leave room for the answer in the model's context window._`);
    const cancelled = [result.baseline, result.steered].some((r) => r?.stopReason === 'cancelled') || signal.aborted;
    if (cancelled) sink.markdown('\n\n_Cancelled._');
    return { mode, question: request.prompt, result, cancelled, answer: (result.steered ?? result.baseline)?.text };
  } catch (e) {
    closeAnswer();
    if (isCancellation(e)) {
      sink.markdown('_Cancelled._');
      return { mode, question: request.prompt, cancelled: true };
    }
    const message = e instanceof Error ? e.message : String(e);
    sink.markdown(`**kvsteer could not answer:** ${message}`);
    return { mode, question: request.prompt, error: message };
  }
}
