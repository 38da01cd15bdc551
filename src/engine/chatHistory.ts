/**
 * The earlier turns a follow-up carries, shared by `@kvsteer` and `kvsteer chat`: each earlier
 * prompt with the answer it got, the latest few. Type imports only, so the editor can load it.
 */
import type { ChatMessage } from './model/chatTokenizer';
import type { LoadedModel } from './model/loadModel';

/** One earlier turn: the user's prompt, or the answer it got (none after an error or early cancel). */
export type ChatTurn = { kind: 'request'; prompt: string } | { kind: 'response'; answer?: string };

/** How many earlier exchanges a request carries: enough to follow up, little of a small model's window. */
export const HISTORY_EXCHANGES = 4;

/**
 * The conversation so far as chat messages, the latest HISTORY_EXCHANGES answered exchanges. A
 * prompt that got no answer is left out with its response.
 */
export function historyMessages(turns: readonly ChatTurn[]): ChatMessage[] {
  const exchanges: ChatMessage[][] = [];
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i], next = turns[i + 1];
    if (t.kind === 'request' && next?.kind === 'response' && next.answer?.trim() && t.prompt.trim()) {
      exchanges.push([{ role: 'user', content: t.prompt }, { role: 'assistant', content: next.answer }]);
      i++;
    }
  }
  return exchanges.slice(-HISTORY_EXCHANGES).flat();
}

/**
 * A conversation cut to leave room for an answer of `maxNewTokens` (and the steered side's offset
 * token) in the model's context window: its earliest messages after a system message are left out,
 * an exchange at a time, never the last one. A long chat with a small-context model would otherwise
 * fail on every follow-up until its history is reset.
 */
export function fitToContext(model: Pick<LoadedModel, 'tokenizer' | 'config'>, messages: ChatMessage[], maxNewTokens: number): { messages: ChatMessage[]; leftOut: number } {
  const room = (ms: ChatMessage[]) => model.config.maxPositions - model.tokenizer.encode(model.tokenizer.applyChatTemplate(ms, true)).length - 1;
  const first = messages[0]?.role === 'system' ? 1 : 0;
  let out = messages;
  while (out.length - first > 1 && room(out) < maxNewTokens) {
    // The oldest exchange: a user's message and the answer after it.
    const n = out[first].role === 'user' && out[first + 1]?.role === 'assistant' && out.length - first > 2 ? 2 : 1;
    out = [...out.slice(0, first), ...out.slice(first + n)];
  }
  return { messages: out, leftOut: messages.length - out.length };
}
