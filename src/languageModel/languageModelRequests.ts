/**
 * What kvsteer's language-model provider does, free of the `vscode` module: provider.ts only adapts
 * VS Code's calls to these functions. The configured local model is offered twice in VS Code's
 * model list, steered (the one-shot cache edit with the selected vector) and baseline (the plain
 * model), so a user, Copilot's chat or another extension can use either. Both decode with the
 * kvsteer settings (strength, decoding, maximum tokens, repeat penalty), as the other entry points,
 * and the caller's common sampling options (modelOptions.ts).
 */
import * as path from 'node:path';
import type { ChatMessage, ChatTokenizer } from '../engine/model/chatTokenizer';
import { KvsteerError, isCancellation } from '../engine/util/errors';
import { KvsteerSettings } from '../config/settingsSchema';
import type { SteeringService, LoadReporter } from '../service/steeringService';
import { LanguageModelFailure } from './languageModelErrors';
import { settingsWithModelOptions } from './modelOptions';

export type LanguageModelId = 'steered' | 'baseline';
export const LANGUAGE_MODEL_IDS: readonly LanguageModelId[] = ['steered', 'baseline'];

/** Plain data for VS Code's LanguageModelChatInformation. */
export interface LanguageModelInfo {
  id: LanguageModelId;
  name: string;
  family: string;
  version: string;
  detail: string;
  tooltip: string;
  maxInputTokens: number;
  maxOutputTokens: number;
  capabilities: { imageInput: false; toolCalling: false };
}

/**
 * Context window assumed until the model has been loaded once (the engine's own fallback when a
 * config names none): small, so a caller's prompt budget never exceeds the real window.
 */
const CONTEXT_BEFORE_LOAD = 2048;

/**
 * A short name for the model setting before anything is loaded (VS Code asks for the list eagerly,
 * and loading a model only to name it would cost seconds): the hub id's last part, the file or
 * folder name, or the Ollama name.
 */
export function modelLabel(setting: string): string {
  const s = setting.trim();
  if (s.startsWith('ollama:')) return s.slice('ollama:'.length);
  const base = path.basename(s.replace(/[\\/]+$/, ''));
  return base.replace(/\.gguf$/i, '') || s;
}

/**
 * Tokens a prompt has beyond its messages' text. VS Code budgets a request as the sum of
 * provideTokenCount over its messages against maxInputTokens, so each message's count includes
 * what the chat template writes around it (`perMessage`: role markers, end of turn), and
 * maxInputTokens leaves out what the prompt has once (`perPrompt`: a default system prompt, the
 * assistant's turn opening, a BOS token, the steered side's offset token).
 */
export interface TemplateTokens {
  perMessage: number;
  perPrompt: number;
}

/** Until the model has loaded: more than common chat templates add (SmolLM2's: 7 and 24). */
const TEMPLATE_TOKENS_BEFORE_LOAD: TemplateTokens = { perMessage: 8, perPrompt: 64 };

const measured = new WeakMap<ChatTokenizer, TemplateTokens>();
/**
 * The loaded model's TemplateTokens, measured by rendering a one- and a three-message conversation;
 * a token more per message for text that merges with the markers around it.
 */
export function templateTokens(tokenizer: ChatTokenizer): TemplateTokens {
  let t = measured.get(tokenizer);
  if (!t) {
    const text = 'x';
    const textTokens = tokenizer.encode(text).length;
    const prompt = (roles: ChatMessage['role'][]) => tokenizer.encode(tokenizer.applyChatTemplate(roles.map((role) => ({ role, content: text })), true)).length;
    const one = prompt(['user']);
    const perMessage = Math.max(0, Math.ceil((prompt(['user', 'assistant', 'user']) - one) / 2) - textTokens) + 1;
    t = { perMessage, perPrompt: Math.max(0, one - textTokens - perMessage) + 1 };
    measured.set(tokenizer, t);
  }
  return t;
}

/**
 * The two models as VS Code lists them. `known` is the model once loaded (in this session or, for
 * the same setting, an earlier one): its own name, context window and template replace the
 * guesses (provider.ts tells VS Code when the list changes).
 */
export function languageModelInfos(settings: KvsteerSettings, known?: { name: string; maxPositions: number; promptTokens?: number }, version = '0'): LanguageModelInfo[] {
  const label = known?.name ?? modelLabel(settings.model);
  const context = known?.maxPositions ?? CONTEXT_BEFORE_LOAD;
  const promptTokens = known?.promptTokens ?? TEMPLATE_TOKENS_BEFORE_LOAD.perPrompt;
  const common = {
    family: label,
    version,
    maxInputTokens: Math.max(1, context - settings.maxNewTokens - promptTokens),
    maxOutputTokens: settings.maxNewTokens,
    capabilities: { imageInput: false, toolCalling: false } as const,
  };
  const strength = settings.cV === null ? "the vector's recommended c_v" : `c_v ${settings.cV}`;
  return [
    {
      ...common,
      id: 'steered',
      name: `${label} (steered, local)`,
      detail: `KV cache steering · ${settings.vector}`,
      tooltip: `${label} on this machine, with one edit of its key/value cache before it answers (vector ${settings.vector}, ${strength}): reasoning steps instead of a guess. Settings: kvsteer.*`,
    },
    {
      ...common,
      id: 'baseline',
      name: `${label} (baseline, local)`,
      detail: 'no steering',
      tooltip: `${label} on this machine, without steering: the answer to compare with. Settings: kvsteer.*`,
    },
  ];
}

/** The shape of VS Code's LanguageModelChatRequestMessage that this module reads. */
export interface RequestMessage {
  readonly role: number;
  readonly content: ReadonlyArray<unknown>;
}

/** VS Code's LanguageModelChatMessageRole values (System is 3 where the editor sends one). */
const ROLES: Record<number, ChatMessage['role']> = { 1: 'user', 2: 'assistant', 3: 'system' };

/**
 * The text of a message's parts: text parts (`value`), and the text inside tool results (a caller
 * may pass one back as context). Images and tool calls carry no text for this model and are left
 * out; the model does not declare either capability.
 */
export function partsText(content: ReadonlyArray<unknown>): string {
  let text = '';
  for (const part of content) {
    if (typeof part === 'string') text += part;
    else if (part && typeof part === 'object') {
      const p = part as { value?: unknown; callId?: unknown; content?: unknown };
      if (typeof p.value === 'string') text += p.value;
      else if (typeof p.callId === 'string' && Array.isArray(p.content)) text += partsText(p.content);
    }
  }
  return text;
}

/**
 * VS Code's messages as the chat template's messages; messages without text (a tool call, an
 * image) are dropped. Messages in a row with one role (callers such as Copilot send the context
 * and the question as two user messages) become one, joined by a blank line: many templates
 * (Gemma's, Mistral's) refuse a conversation whose roles do not alternate. The user's last message
 * is the one answered: when it holds no text, the model would answer an earlier one (or nothing)
 * as if it were the question, so that is an error.
 */
export function toChatMessages(messages: readonly RequestMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const [i, m] of messages.entries()) {
    const role = ROLES[m.role];
    if (!role) throw new KvsteerError('INVALID_ARGUMENT', `message ${i + 1} has a role kvsteer does not know (${m.role})`);
    const content = partsText(m.content);
    const previous = out[out.length - 1];
    if (content.trim() && previous?.role === role) previous.content += `\n\n${content}`;
    else if (content.trim()) out.push({ role, content });
    else if (role === 'user' && i === messages.length - 1) {
      throw new KvsteerError('INVALID_ARGUMENT', `the last message holds no text: kvsteer's local models read text only (images and other data are not read)`);
    }
  }
  return out;
}

export interface LanguageModelRequest {
  model: LanguageModelId;
  messages: ChatMessage[];
  /** The caller requires a tool call (VS Code's LanguageModelChatToolMode.Required). */
  toolCallRequired?: boolean;
  /** The caller's options; the keys read are listed in modelOptions.ts. */
  modelOptions?: Readonly<Record<string, unknown>>;
}

/**
 * Answers the conversation with the chosen model, streaming text to `report`. A cancelled request
 * ends quietly with what was streamed; any other failure (no vector for this model, a conversation
 * longer than the context window, …) is thrown with kvsteer's message, which VS Code shows the
 * caller.
 */
export async function answerLanguageModelRequest(
  req: LanguageModelRequest,
  report: (text: string) => void,
  service: SteeringService,
  settings: KvsteerSettings,
  signal: AbortSignal,
  onLoad?: LoadReporter,
): Promise<{ tokens: number; stopReason?: string }> {
  if (!LANGUAGE_MODEL_IDS.includes(req.model)) throw new LanguageModelFailure('NotFound', `kvsteer has no language model "${req.model}"`);
  if (req.toolCallRequired) throw new KvsteerError('INVALID_ARGUMENT', 'this local model cannot call tools; choose another model for requests that need one');
  const requestSettings = settingsWithModelOptions(settings, req.modelOptions);
  try {
    const result = await service.ask(
      requestSettings,
      { messages: req.messages, mode: req.model, signal, onToken: (_side, e) => void (e.textDelta && report(e.textDelta)) },
      onLoad,
    );
    const side = req.model === 'steered' ? result.steered : result.baseline;
    return { tokens: side?.tokens.length ?? 0, stopReason: side?.stopReason };
  } catch (e) {
    if (isCancellation(e) && signal.aborted) return { tokens: 0, stopReason: 'cancelled' };
    throw e;
  }
}

/**
 * Tokens in `text` with the loaded model's tokenizer. VS Code asks while budgeting a prompt, often
 * before the first request has loaded the model (and the list may already give the remembered
 * model's full window); then it estimates high, so a budget built on it stays inside the window: a
 * run of ASCII letters and spaces one token per three characters (English words are longer), any
 * other ASCII character one token (digits and punctuation are often a token each), and any other
 * character one token per UTF-8 byte, the most a byte-level BPE tokenizer can give (Chinese text
 * is about two tokens a character with SmolLM2's, where a per-character estimate was 6× low).
 */
export function countTokens(service: SteeringService, text: string, setting?: string): number {
  const model = modelFor(service, setting);
  if (model) return model.tokenizer.encode(text).length;
  let tokens = 0;
  for (const [run] of text.matchAll(/[A-Za-z ]+|[\x00-\x7f]|[^]/gu)) {
    tokens += /^[A-Za-z ]/.test(run) ? Math.ceil(run.length / 3) : Buffer.byteLength(run, 'utf8');
  }
  return tokens;
}

/** Tokens of one of VS Code's messages in the prompt: its text and the template's markers around it. */
export function countMessageTokens(service: SteeringService, message: RequestMessage, setting?: string): number {
  const tokenizer = modelFor(service, setting)?.tokenizer;
  let perMessage = TEMPLATE_TOKENS_BEFORE_LOAD.perMessage;
  if (tokenizer) {
    try {
      perMessage = templateTokens(tokenizer).perMessage;
    } catch {
      // A model without a chat template: its requests fail with that error, not the count.
    }
  }
  return countTokens(service, partsText(message.content), setting) + perMessage;
}

/**
 * The loaded model, when it is the one kvsteer.model now names (`setting`; any when undefined):
 * right after the setting changes, the old model stays loaded until the next request, and its
 * tokenizer would count for a model it is not.
 */
function modelFor(service: SteeringService, setting: string | undefined) {
  return setting === undefined || service.loadedModelSetting === setting ? service.loadedModel : undefined;
}
