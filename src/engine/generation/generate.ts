/**
 * The generation loop: prefill the prompt, optionally edit the KV cache, then decode token by
 * token with greedy or seeded sampling, streaming text, stopping on EOS, stop strings, the token
 * budget, the context window or an AbortSignal. The cache is exposed between prefill and the first
 * decoding step (`editCache`): cache steering edits it there, once, and nothing runs per token.
 */
import { KvsteerError, cancelledError } from '../util/errors';
import { KvCache } from '../model/kvCache';
import { LoadedModel } from '../model/loadModel';
import { Decoding, GREEDY, Sampler } from './sampler';
import { hasWordLoop } from './repetition';
import { RepeatPenalty, checkRepeatPenalty, isRepeatPenaltyOff, penalizeRepeats } from './repeatPenalty';
import { PrefillCache } from './prefillCache';

export interface TokenEvent {
  id: number;
  /** Text this token completed (may be empty while a multi-byte character is pending). */
  textDelta: string;
  /**
   * The token's place in the answer. After the last token, one more event with the same index may
   * deliver text held back while streaming: the start of a stop string that never completed, or a
   * character whose bytes never completed.
   */
  index: number;
}

export interface GenerateRequest {
  /** Templated prompt token ids. */
  promptIds: number[];
  maxNewTokens: number;
  decoding?: Decoding;
  /** Generation stops when the text contains one of these; the text is cut before it. */
  stopStrings?: string[];
  signal?: AbortSignal;
  onToken?: (e: TokenEvent) => void;
  /**
   * Number of final prompt tokens kept out of the prefill and fed at the first decoding step
   * (default 0). Cache steering holds back 1: the offset token.
   */
  holdBack?: number;
  /** Called once with the cache after the prefill, before decoding; may edit it in place. */
  editCache?: (cache: KvCache) => void;
  /** Residual-stream additions applied to every position fed after the prefill (activation steering). */
  activationAdd?: ReadonlyMap<number, Float32Array>;
  /** Never pick an end-of-sequence token (benchmarks use it to decode a fixed number of tokens). */
  ignoreEos?: boolean;
  /**
   * Stop once the answer has fallen into a loop (a word 4-gram five times, the evaluation's loop
   * measure) instead of spending the rest of the token budget on it. Off by default.
   */
  stopOnRepetition?: boolean;
  /** llama.cpp's repeat penalty over the latest context tokens (repeatPenalty.ts). Off by default. */
  repeatPenalty?: RepeatPenalty;
  /**
   * Where the last prefill is kept: a request whose prefill tokens (all prompt tokens but the
   * held-back ones) are exactly those of the kept one, on this model, starts from a copy of it, and
   * a request that runs its prefill keeps it there (before any edit).
   */
  prefillCache?: PrefillCache;
}

export type StopReason = 'eos' | 'stop-string' | 'max-tokens' | 'context-full' | 'cancelled' | 'repetition';

export interface GenerationTimings {
  prefillMs: number;
  /** Prompt tokens in the prefill. */
  prefillTokens: number;
  /** The prefill was a kept one (`prefillCache`); prefillMs is then the time to copy it. */
  prefillReused: boolean;
  /** Time of the cache edit (0 when none). */
  editMs: number;
  /** Wall time of each decoding step (forward + sampling + detokenising). */
  decodeMs: number[];
  totalMs: number;
}

export interface GenerationResult {
  text: string;
  tokenIds: number[];
  stopReason: StopReason;
  timings: GenerationTimings;
}

/** Mean decode time per token, or NaN when no decoding step ran. */
export function msPerToken(t: GenerationTimings): number {
  return t.decodeMs.length ? t.decodeMs.reduce((a, b) => a + b, 0) / t.decodeMs.length : NaN;
}

export async function generate(model: LoadedModel, req: GenerateRequest): Promise<GenerationResult> {
  const t0 = performance.now();
  const { promptIds } = req;
  const holdBack = req.holdBack ?? 0;
  if (promptIds.length === 0) throw new KvsteerError('INVALID_ARGUMENT', 'the prompt is empty');
  if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1) throw new KvsteerError('INVALID_ARGUMENT', `max new tokens must be a positive integer (got ${req.maxNewTokens})`);
  if (holdBack < 0 || holdBack >= promptIds.length) throw new KvsteerError('INVALID_ARGUMENT', `cannot hold back ${holdBack} of ${promptIds.length} prompt tokens`);
  const maxPositions = model.config.maxPositions;
  if (promptIds.length >= maxPositions) {
    throw new KvsteerError('PROMPT_TOO_LONG', `the prompt has ${promptIds.length} tokens but the model's context window is ${maxPositions}`);
  }
  if (req.repeatPenalty) checkRepeatPenalty(req.repeatPenalty);
  const penalty = isRepeatPenaltyOff(req.repeatPenalty) ? undefined : req.repeatPenalty;
  const sampler = new Sampler(req.decoding ?? GREEDY);
  const eos = new Set(model.config.eosTokenIds);
  const backend = model.backend;
  const generated: number[] = [];
  const decodeMs: number[] = [];
  let text = '';
  let stopReason: StopReason = 'max-tokens';

  const checkCancelled = () => {
    if (req.signal?.aborted) throw cancelledError('generation');
  };
  checkCancelled();
  const tp = performance.now();
  const prefillIds = promptIds.slice(0, promptIds.length - holdBack);
  const reused = req.prefillCache?.lookup(backend, prefillIds);
  let step = reused ?? (await backend.forward({ tokens: prefillIds, cache: backend.emptyCache(), logitsToKeep: 1, signal: req.signal, cancelled: 'generation' }));
  if (!reused) req.prefillCache?.keep(backend, { ids: prefillIds, cache: step.cache, logits: step.logits });
  const prefillMs = performance.now() - tp;
  let editMs = 0;
  if (req.editCache) {
    const te = performance.now();
    req.editCache(step.cache);
    editMs = performance.now() - te;
  }
  // Each cache is freed once the next one is made from it, the last one at the end: with the
  // session in a worker, caches live there until freed.
  const advance = async (tokens: number[]) => {
    const done = step.cache;
    step = await backend.forward({ tokens, cache: done, logitsToKeep: 1, activationAdd: req.activationAdd });
    done.free();
  };
  try {
    let pending = promptIds.slice(promptIds.length - holdBack);
    let stepStart = performance.now();
    if (pending.length) {
      checkCancelled();
      await advance(pending);
    }
    const stops = (req.stopStrings ?? []).filter((x) => x !== '');
    // How much of `text` onToken has delivered; streamed text is always a prefix of the answer.
    let streamed = 0;
    const stream = (id: number, upTo: number) => {
      if (upTo <= streamed) return void req.onToken?.({ id, textDelta: '', index: generated.length - 1 });
      req.onToken?.({ id, textDelta: text.slice(streamed, upTo), index: generated.length - 1 });
      streamed = upTo;
    };
    // The penalty's window reads the whole context: prompt (held-back tokens included) and answer.
    const context = penalty ? [...promptIds] : [];
    for (;;) {
      if (penalty) penalizeRepeats(step.logits, context, penalty);
      if (req.ignoreEos) for (const e of eos) step.logits[e] = -Infinity;
      const id = sampler.next(step.logits);
      if (eos.has(id)) {
        stopReason = 'eos';
        if (pending.length) decodeMs.push(performance.now() - stepStart);
        break;
      }
      generated.push(id);
      if (penalty) context.push(id);
      const full = model.tokenizer.decode(generated);
      // Hold back text that ends in a partial UTF-8 character until the next token completes it.
      if (!full.endsWith('\uFFFD')) text = full;
      if (pending.length) decodeMs.push(performance.now() - stepStart);
      const stop = stops.length ? findStop(text, stops) : -1;
      if (stop >= 0) {
        text = text.slice(0, stop);
        stream(id, text.length);
        stopReason = 'stop-string';
        break;
      }
      // Text that may be the start of a stop string waits: streamed text cannot be taken back.
      stream(id, text.length - partialStopLength(text, stops));
      if (req.stopOnRepetition && hasWordLoop(text)) {
        stopReason = 'repetition';
        break;
      }
      if (generated.length >= req.maxNewTokens) break;
      if (step.cache.length + 1 >= maxPositions) {
        stopReason = 'context-full';
        break;
      }
      if (req.signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      stepStart = performance.now();
      pending = [id];
      await advance(pending);
    }
    // A partial character held back at the end is decoded as-is (a replacement character).
    if (stopReason !== 'stop-string') text = model.tokenizer.decode(generated);
    if (text.length > streamed) stream(generated[generated.length - 1], text.length);
    return {
      text,
      tokenIds: generated,
      stopReason,
      timings: { prefillMs, prefillTokens: prefillIds.length, prefillReused: reused !== undefined, editMs, decodeMs, totalMs: performance.now() - t0 },
    };
  } finally {
    step.cache.free();
  }
}

function findStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** The length of the longest end of `text` that begins one of `stops` (a stop string not yet complete). */
function partialStopLength(text: string, stops: string[]): number {
  let best = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
      if (text.endsWith(s.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}
