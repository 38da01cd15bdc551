/**
 * The earlier turns a follow-up carries, shared by `@kvsteer` and `kvsteer chat`: each earlier
 * prompt with the answer it got, the latest few. Type imports only, so the editor can load it.
 */
import type { ChatMessage } from './model/chatTokenizer';

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
