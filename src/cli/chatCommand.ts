/**
 * `kvsteer chat`: a conversation in the terminal, one line per turn. Each reply is cache-steered
 * (the plain model's with --baseline; both, baseline first, with --compare) and later turns see
 * the latest exchanges, as `@kvsteer` follow-ups do (engine/chatHistory.ts; after a comparison the
 * steered reply stands for the turn). `/reset` forgets the conversation; `/exit` or the end of
 * input ends it. Input is read line by line, so a file or a pipe of questions works too. A turn
 * that fails (a conversation over the context window, say) prints its error and the chat goes on.
 * Ctrl-C during an answer stops that answer (what it wrote stays in the conversation) and the chat
 * goes on, as in llama.cpp's and Ollama's chats; at the prompt, or pressed again before the answer
 * has stopped, it ends the chat as usual.
 */
import * as readline from 'node:readline';
import { KvsteerError, isCancellation, isKvsteerError } from '../engine/util/errors';
import { ask, AskMode } from '../engine/ask';
import { ChatTurn, historyMessages } from '../engine/chatHistory';
import type { ChatMessage } from '../engine/model/chatTokenizer';
import { strengthFor } from '../engine/steering/recommendedStrength';
import { vectorModelNote } from '../engine/steering/steeringVector';
import { Flags, answerFlags } from './args';
import { openModel, vectorForModel, log } from './modelOptions';
import { statsLine } from './statsLine';

export async function cmdChat(flags: Flags, input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  if (flags.compare && flags.baseline) throw new KvsteerError('INVALID_ARGUMENT', '--compare and --baseline exclude each other');
  if (flags.json || flags.steer) throw new KvsteerError('INVALID_ARGUMENT', `--${flags.json ? 'json' : 'steer'} is for kvsteer ask; chat replies steered unless --baseline`);
  if (flags.file) throw new KvsteerError('INVALID_ARGUMENT', '--file is for kvsteer ask; in a chat, paste the text into the turn');
  const mode: AskMode = flags.compare ? 'compare' : flags.baseline ? 'baseline' : 'steered';
  const { options: { system, ...options }, given } = answerFlags(flags);
  const model = await openModel(flags);
  try {
    const found = mode === 'baseline' ? undefined : vectorForModel(flags, model);
    if (found?.missing) throw new KvsteerError('VECTOR_INVALID', found.missing);
    const vector = found?.vector;
    const strength = vector && strengthFor(vector.meta.recommended, options.repeatPenalty, given);
    const interactive = (input as { isTTY?: boolean }).isTTY === true;
    const promptUser = () => void (interactive && process.stdout.write('> '));
    log(`Chatting with ${model.name}${vector ? `, steered by ${vector.meta.name} (c_v ${strength!.cV}, c_k ${strength!.cK})` : ', not steered'}. /reset forgets the conversation, /exit ends it.`);
    const note = vector && vectorModelNote(vector, model);
    if (note) log(`Note: ${note}`);
    const turns: ChatTurn[] = [];
    promptUser();
    for await (const line of readline.createInterface({ input, terminal: false, crlfDelay: Infinity })) {
      const text = line.trim();
      if (text === '/exit' || text === '/quit') break;
      if (text === '/reset') {
        turns.length = 0;
        log('(conversation forgotten)');
      } else if (text) {
        const messages: ChatMessage[] = [...(system ? [{ role: 'system' as const, content: system }] : []), ...historyMessages(turns), { role: 'user', content: text }];
        turns.push({ kind: 'request', prompt: text });
        const stop = new AbortController();
        const onInterrupt = () => {
          if (stop.signal.aborted) process.exit(130);
          stop.abort();
        };
        process.on('SIGINT', onInterrupt);
        try {
          const result = await ask(model, {
            ...options,
            messages,
            fitHistory: true,
            mode,
            vector,
            strength,
            signal: stop.signal,
            onSideStart: (side) => void (mode === 'compare' && process.stdout.write(side === 'baseline' ? 'baseline: ' : 'steered: ')),
            onSideDone: (side, r) => {
              process.stdout.write('\n');
              log(`${mode === 'compare' ? `${side} ` : ''}${statsLine(r)}`);
            },
            onToken: (_side, e) => void process.stdout.write(e.textDelta),
          });
          turns.push({ kind: 'response', answer: (result.steered ?? result.baseline)?.text });
          if (result.historyLeftOut) log(`(the ${result.historyLeftOut} earliest messages were left out, to leave room for the answer in the context window)`);
        } catch (e) {
          if (!isKvsteerError(e)) throw e;
          turns.push({ kind: 'response' });
          // Stopped before its first token (in the prefill): nothing was written.
          if (isCancellation(e) && stop.signal.aborted) log('(answer stopped)');
          else log(`kvsteer: ${e.message}${e.code === 'PROMPT_TOO_LONG' ? ' (/reset starts over)' : ''}`);
        } finally {
          process.off('SIGINT', onInterrupt);
        }
      }
      promptUser();
    }
  } finally {
    await model.dispose();
  }
}
