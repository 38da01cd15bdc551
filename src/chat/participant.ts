/**
 * Registers `@kvsteer` as a thin adapter: VS Code's request (its attached files and selections
 * read as text), earlier @kvsteer turns, response stream and cancellation token are handed to
 * handleChatRequest (chatHandler.ts), which does the work.
 */
import * as vscode from 'vscode';
import { CHAT_PARTICIPANT } from '../ids';
import { readSettingsAfterWrites } from '../config/settings';
import { ServiceHost } from '../service/serviceHost';
import { ChatTurn, historyMessages } from '../engine/chatHistory';
import { chatFollowups, handleChatRequest } from './chatHandler';
import { isAttachable } from './chatAttachments';
import type { PromptAttachment } from '../engine/promptAttachments';
import type { AskMode } from '../engine/ask';

interface KvsteerChatResult extends vscode.ChatResult {
  metadata: { mode: string; question?: string; cancelled?: boolean; error?: string; answer?: string };
}

/** Earlier turns with @kvsteer (other participants' turns are theirs); answers come from our results' metadata. */
function ourTurns(context: vscode.ChatContext): ChatTurn[] {
  const turns: ChatTurn[] = [];
  for (const t of context.history) {
    if (t.participant !== CHAT_PARTICIPANT) continue;
    if (t instanceof vscode.ChatRequestTurn) turns.push({ kind: 'request', prompt: t.prompt });
    else if (t instanceof vscode.ChatResponseTurn) turns.push({ kind: 'response', answer: (t.result as KvsteerChatResult).metadata?.answer });
  }
  return turns;
}

/**
 * The request's references as text: a file (#file, a dropped file), a range (#selection, or the
 * editor's selection VS Code adds), or a string value. Implicit whole-file context and agent
 * instructions are not the user's question (isAttachable); a file that is not text is left out
 * by name. Each one used is shown as a reference of the response.
 */
async function attachmentsOf(request: vscode.ChatRequest, stream: vscode.ChatResponseStream): Promise<PromptAttachment[]> {
  const out: PromptAttachment[] = [];
  for (const ref of request.references) {
    if (!isAttachable(ref.id)) continue;
    const v = ref.value;
    try {
      if (v instanceof vscode.Uri || v instanceof vscode.Location) {
        const uri = v instanceof vscode.Uri ? v : v.uri;
        const doc = await vscode.workspace.openTextDocument(uri);
        const name = vscode.workspace.asRelativePath(uri);
        if (v instanceof vscode.Location) {
          // A selection ending at the start of a line does not take that line.
          const last = v.range.end.character === 0 && v.range.end.line > v.range.start.line ? v.range.end.line : v.range.end.line + 1;
          out.push({ name: `${name}:${v.range.start.line + 1}-${last}`, text: doc.getText(v.range) });
        } else {
          out.push({ name, text: doc.getText() });
        }
        stream.reference(v);
      } else if (typeof v === 'string') {
        out.push({ name: ref.modelDescription ?? ref.id, text: v });
      }
    } catch {
      // Not a text document (a binary file): nothing the model can read.
      out.push({ name: v instanceof vscode.Uri ? vscode.workspace.asRelativePath(v) : ref.id, text: '', unreadable: 'not text' });
    }
  }
  return out;
}

export function registerChatParticipant(context: vscode.ExtensionContext, host: ServiceHost): void {
  const handler: vscode.ChatRequestHandler = async (request, chatContext, stream, token): Promise<KvsteerChatResult> => {
    const abort = new AbortController();
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      const read = await readSettingsAfterWrites();
      if (!read.ok) {
        stream.markdown(`**KV Steer settings need fixing:** ${read.errors.join('; ')}`);
        return { metadata: { mode: 'none', error: read.errors.join('; ') } };
      }
      const outcome = await handleChatRequest(
        { prompt: request.prompt, command: request.command, history: historyMessages(ourTurns(chatContext)), attachments: await attachmentsOf(request, stream) },
        { progress: (m) => stream.progress(m), markdown: (t) => stream.markdown(t) },
        host.service,
        read.settings,
        abort.signal,
      );
      return { metadata: { mode: outcome.mode, question: outcome.question, cancelled: outcome.cancelled, error: outcome.error, answer: outcome.answer } };
    } finally {
      sub.dispose();
    }
  };
  const participant = vscode.chat.createChatParticipant(CHAT_PARTICIPANT, handler);
  participant.iconPath = vscode.Uri.joinPath(context.extensionUri, 'media', 'icon.png');
  participant.followupProvider = {
    provideFollowups(result: KvsteerChatResult) {
      const m = result.metadata;
      // A result without the question (an older session's) offers nothing rather than a wrong prompt.
      return m?.question === undefined ? [] : chatFollowups({ mode: m.mode as AskMode, question: m.question, error: m.error, cancelled: m.cancelled });
    },
  };
  context.subscriptions.push(participant);
}
