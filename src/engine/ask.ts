/**
 * The main job, shared by the CLI, the chat participant and the webview: answer one question
 * with the baseline model, with cache steering, or both one after the other, streaming tokens and
 * reporting per-side statistics.
 */
import { KvsteerError, isCancellation } from './util/errors';
import { LoadedModel } from './model/loadModel';
import { ChatMessage } from './model/chatTokenizer';
import { fitToContext } from './chatHistory';
import { Decoding, GREEDY } from './generation/sampler';
import { GenerationResult, StopReason, TokenEvent, generate, msPerToken } from './generation/generate';
import { PrefillCache } from './generation/prefillCache';
import { RepeatPenalty } from './generation/repeatPenalty';
import { SteeredGenerationResult, SteeringStrength, checkSteering, generateSteered } from './steering/applySteering';
import { SteeringVector, vectorModelNote } from './steering/steeringVector';
import { recommendedStrength } from './steering/recommendedStrength';

export type AskMode = 'baseline' | 'steered' | 'compare';
export type AskSide = 'baseline' | 'steered';

export interface AskRequest {
  /** The user's question (with an optional system prompt), or… */
  question?: string;
  system?: string;
  /** …a whole conversation ending with the user's turn (the language-model provider's requests). */
  messages?: ChatMessage[];
  mode: AskMode;
  vector?: SteeringVector;
  strength?: SteeringStrength;
  offsetToken?: string;
  maxNewTokens: number;
  /**
   * Leave out the earliest messages of `messages` (never a system message or the last one) until
   * the prompt leaves room for maxNewTokens: a chat's history, which grows with every turn.
   */
  fitHistory?: boolean;
  decoding?: Decoding;
  stopStrings?: string[];
  /** Stop a side once it has fallen into a loop (see GenerateRequest.stopOnRepetition). */
  stopOnRepetition?: boolean;
  /** Applied to both sides alike, so the comparison stays fair (see GenerateRequest.repeatPenalty). */
  repeatPenalty?: RepeatPenalty;
  /**
   * Where the last prefill is kept, across requests (a rerun of the steered side, a retry). A
   * comparison shares its prefill between its sides without one.
   */
  prefillCache?: PrefillCache;
  signal?: AbortSignal;
  onToken?: (side: AskSide, e: TokenEvent) => void;
  /**
   * Called when a side starts (after the previous one finished); the steered side gives the
   * strength it uses, and the vector's note when it was extracted on another model (vectorModelNote).
   */
  onSideStart?: (side: AskSide, steered?: { cK: number; cV: number; vectorNote?: string }) => void;
  /** Called as soon as a side has finished. */
  onSideDone?: (side: AskSide, result: AskSideResult) => void;
}

export interface AskSideResult {
  text: string;
  tokens: number[];
  msPerToken: number;
  totalMs: number;
  prefillMs: number;
  /** The prefill was a kept one (a comparison's steered side reuses the baseline's); prefillMs is then ~0. */
  prefillReused: boolean;
  editMs: number;
  stopReason: StopReason;
}

export interface SteeredSideResult extends AskSideResult {
  cK: number;
  cV: number;
  vector: string;
  /** Present when the vector was extracted on another model than this one (vectorModelNote). */
  vectorNote?: string;
  /** The layers the cache edit touched, and the offset token decoding started from. */
  layers: number[];
  offsetToken: string;
}

export interface AskResult {
  baseline?: AskSideResult;
  steered?: SteeredSideResult;
  /** How many earlier messages fitHistory left out (absent when none). */
  historyLeftOut?: number;
}

export function summarize(r: GenerationResult): AskSideResult {
  return {
    text: r.text,
    tokens: r.tokenIds,
    msPerToken: msPerToken(r.timings),
    totalMs: r.timings.totalMs,
    prefillMs: r.timings.prefillMs,
    prefillReused: r.timings.prefillReused,
    editMs: r.timings.editMs,
    stopReason: r.stopReason,
  };
}

export function userMessages(question: string, system?: string): ChatMessage[] {
  if (!question.trim()) throw new KvsteerError('INVALID_ARGUMENT', 'the question is empty');
  return [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: question }];
}

/**
 * A conversation the chat template can end with the assistant's turn: messages with text, the
 * last one the user's. Steering edits the cache after the last token, so the answer it shapes is
 * the reply to that turn.
 */
export function conversation(messages: ChatMessage[]): ChatMessage[] {
  if (messages.length === 0) throw new KvsteerError('INVALID_ARGUMENT', 'the conversation has no messages');
  const last = messages[messages.length - 1];
  if (last.role !== 'user') throw new KvsteerError('INVALID_ARGUMENT', `the conversation must end with the user's message, not the ${last.role}'s`);
  if (!last.content.trim()) throw new KvsteerError('INVALID_ARGUMENT', "the user's last message is empty");
  return messages;
}

export async function ask(model: LoadedModel, req: AskRequest): Promise<AskResult> {
  const asked = req.messages ? conversation(req.messages) : userMessages(req.question ?? '', req.system);
  const { messages, leftOut } = req.fitHistory ? fitToContext(model, asked, req.maxNewTokens) : { messages: asked, leftOut: 0 };
  const out: AskResult = leftOut ? { historyLeftOut: leftOut } : {};
  // The steered side prefills the same templated prompt as the baseline (its offset token is held
  // back), so a comparison prefills once: the steered side edits a copy of the baseline's prefill.
  const prefillCache = req.prefillCache ?? (req.mode === 'compare' ? new PrefillCache() : undefined);
  // A steered side that cannot run (no vector, one for another model, a bad strength, layer or
  // offset token) is refused now, not after the baseline has answered.
  let steering: { vector: SteeringVector; strength: SteeringStrength } | undefined;
  if (req.mode !== 'baseline') {
    if (!req.vector) throw new KvsteerError('INVALID_ARGUMENT', 'no steering vector is selected');
    steering = { vector: req.vector, strength: req.strength ?? recommendedStrength(req.vector.meta.recommended, req.repeatPenalty) };
    checkSteering(model, steering.vector, steering.strength, req.offsetToken);
  }
  const ids = model.tokenizer.encode(model.tokenizer.applyChatTemplate(messages, true));
  // The steered side's prompt is the baseline's and its offset token: a baseline prompt one token
  // short of the window leaves the steered side none, which generate would refuse only after the
  // baseline had answered (a longer prompt the baseline's generate refuses at once).
  if (req.mode === 'compare' && ids.length + 1 === model.config.maxPositions) {
    throw new KvsteerError('PROMPT_TOO_LONG', `the prompt has ${ids.length + 1} tokens with the steered side's offset token but the model's context window is ${model.config.maxPositions}`);
  }
  const common = { maxNewTokens: req.maxNewTokens, decoding: req.decoding ?? GREEDY, stopStrings: req.stopStrings, stopOnRepetition: req.stopOnRepetition, repeatPenalty: req.repeatPenalty, signal: req.signal, prefillCache };
  if (req.mode !== 'steered') {
    req.onSideStart?.('baseline');
    out.baseline = summarize(await generate(model, { ...common, promptIds: ids, onToken: (e) => req.onToken?.('baseline', e) }));
    req.onSideDone?.('baseline', out.baseline);
    // Cancelled during the baseline or just after it: the baseline is the answer, as it stands.
    if (out.baseline.stopReason === 'cancelled' || req.signal?.aborted) return out;
  }
  if (steering) {
    const { vector, strength } = steering;
    const vectorNote = vectorModelNote(vector, model);
    const noted = vectorNote === undefined ? {} : { vectorNote };
    req.onSideStart?.('steered', { cK: strength.cK, cV: strength.cV, ...noted });
    let r: SteeredGenerationResult;
    try {
      r = await generateSteered(model, { ...common, messages, vector, strength, offsetToken: req.offsetToken, onToken: (e) => req.onToken?.('steered', e) });
    } catch (e) {
      // Cancelled before the steered side's first token (in its prefill): keep the baseline.
      if (out.baseline && isCancellation(e)) return out;
      throw e;
    }
    out.steered = { ...summarize(r), cK: strength.cK, cV: strength.cV, vector: vector.meta.name, ...noted, layers: r.layers, offsetToken: r.offsetToken };
    req.onSideDone?.('steered', out.steered);
  }
  return out;
}
