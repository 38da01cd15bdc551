/**
 * Application (paper §3, their exact procedure): template the prompt, append one neutral offset
 * token, prefill every token but that last one, add c_k·S_k[l] and c_v·S_v[l] to the cached key and
 * value at the last cached position of the selected layers, then decode starting from the offset
 * token. One edit, before decoding; nothing runs per token afterwards.
 */
import { KvsteerError } from '../util/errors';
import { KvCache } from '../model/kvCache';
import { LoadedModel } from '../model/loadModel';
import { ChatMessage } from '../model/chatTokenizer';
import { GenerateRequest, GenerationResult, generate } from '../generation/generate';
import { SteeringVector, checkVectorFitsModel } from './steeringVector';

export interface SteeringStrength {
  /** Coefficient of the key directions (paper default 0). */
  cK: number;
  /** Coefficient of the value directions (paper: 1–10 per model and task). */
  cV: number;
  /** Layers to edit; default every layer from the vector's `fromLayer` up (1 in every vector made here, as the paper). */
  layers?: number[];
}

import { MAX_COEFFICIENT } from './limits';

/** The layers to edit (checked); `fromLayer` is where the default range starts (the vector's recommendation). */
export function checkStrength(s: SteeringStrength, numLayers: number, fromLayer = 1): number[] {
  for (const [name, c] of [['c_k', s.cK], ['c_v', s.cV]] as const) {
    if (typeof c !== 'number' || !Number.isFinite(c)) throw new KvsteerError('INVALID_ARGUMENT', `steering strength ${name} must be a finite number (got ${String(c)})`);
    if (Math.abs(c) > MAX_COEFFICIENT) throw new KvsteerError('INVALID_ARGUMENT', `steering strength ${name} = ${c} is outside [-${MAX_COEFFICIENT}, ${MAX_COEFFICIENT}]`);
  }
  const layers = s.layers ?? Array.from({ length: Math.max(0, numLayers - fromLayer) }, (_, i) => i + fromLayer);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) throw new KvsteerError('INVALID_ARGUMENT', `layer ${l} does not exist (the model has layers 0–${numLayers - 1})`);
  }
  // A layer listed twice would be edited twice, at double the strength.
  const twice = layers.find((l, i) => layers.indexOf(l) !== i);
  if (twice !== undefined) throw new KvsteerError('INVALID_ARGUMENT', `layer ${twice} is listed twice`);
  return layers;
}

/** Adds c·S to the cache at `position` for the given layers, in place. */
export function steerCache(cache: KvCache, vector: SteeringVector, strength: SteeringStrength, position = cache.length - 1): void {
  const layers = checkStrength(strength, cache.numLayers, vector.meta.recommended.fromLayer);
  for (const l of layers) {
    cache.addAtPosition(l, 'key', position, vector.keys[l], strength.cK);
    cache.addAtPosition(l, 'value', position, vector.values[l], strength.cV);
  }
}

let editWarmedUp = false;

/**
 * V8 compiles and optimises the edit loop over its first calls: the first edit in a process took
 * 1.3–5 ms in `kvsteer ask --compare` on SmolLM2-135M, later ones 0.1–0.5 ms. Readying a vector for
 * use (resolveVector, findVectorForModel) runs three edits of a scratch cache of its shape, once per
 * process, so that this one-time cost is paid while loading (about 5 ms) and a request's edit is
 * the addition itself (0.2–0.7 ms in the same runs). The vector is only read.
 */
export function warmUpCacheEdit(vector: SteeringVector): void {
  if (editWarmedUp) return;
  const { numKvHeads, headDim } = vector.meta.model.fingerprint;
  const size = numKvHeads * headDim;
  for (let i = 0; i < 3; i++) {
    // Grown in place by appended(), as decoding grows the engine's caches (which marks the old one
    // stale), so the optimised edit does not rest on field values that a later decode changes:
    // without that, the first real generation threw the optimised code away again.
    const storage = vector.keys.map(() => ({ key: new Float32Array(2 * size), value: new Float32Array(2 * size) }));
    const first = new KvCache(numKvHeads, headDim, 1, storage.map((s) => ({ key: s.key.subarray(0, size), value: s.value.subarray(0, size) })), storage, 2);
    const rows = vector.keys.map(() => ({ key: new Float32Array(size), value: new Float32Array(size) }));
    steerCache(first.appended(rows, 1), vector, { cK: 1, cV: 1 });
  }
  editWarmedUp = true;
}

export interface SteeredPrompt {
  /** Prompt token ids with the offset token last. */
  ids: number[];
  offsetTokenId: number;
}

/** Templated prompt ids plus the offset token, which must be a single token. */
export function steeredPromptIds(model: LoadedModel, messages: ChatMessage[], offsetToken: string): SteeredPrompt {
  const offset = offsetTokenId(model, offsetToken);
  const ids = model.tokenizer.encode(model.tokenizer.applyChatTemplate(messages, true));
  return { ids: [...ids, offset], offsetTokenId: offset };
}

/** The id of the offset token (as the tokenizer's singleToken reads it), which must be exactly one. */
export function offsetTokenId(model: LoadedModel, offsetToken: string): number {
  const offset = model.tokenizer.singleToken(offsetToken);
  if (offset === undefined) {
    const n = model.tokenizer.encode(offsetToken).length;
    throw new KvsteerError('INVALID_ARGUMENT', `the offset token ${JSON.stringify(offsetToken)} is ${n} tokens for this model; it must be exactly one`);
  }
  // A control token (end of turn, end of text, BOS) is not neutral: decoding would start from the
  // end of the answer, or a new turn. Such tokens vanish when special tokens are skipped.
  if (model.tokenizer.decode([offset], true) === '' && model.tokenizer.decode([offset], false) !== '') {
    throw new KvsteerError('INVALID_ARGUMENT', `the offset token ${JSON.stringify(offsetToken)} is one of this model's special tokens; use a neutral one, such as "\\n" or a space`);
  }
  return offset;
}

export type SteeredGenerateRequest = Omit<GenerateRequest, 'promptIds' | 'holdBack' | 'editCache'> & {
  messages: ChatMessage[];
  vector: SteeringVector;
  strength: SteeringStrength;
  /** Default: the vector's recommended offset token ("\n"; " " for arithmetic). */
  offsetToken?: string;
};

/** A steered answer, with the layers its cache edit touched and the offset token it decoded from. */
export type SteeredGenerationResult = GenerationResult & { layers: number[]; offsetToken: string };

/**
 * Everything a steered generation checks before it runs: the vector fits the model, the strength
 * and layers are valid, the offset token (default: the vector's) is one token. A comparison calls
 * it before its baseline, so a steered side that cannot run does not fail only after the baseline.
 */
export function checkSteering(model: LoadedModel, vector: SteeringVector, strength: SteeringStrength, offsetToken?: string): { layers: number[]; offsetToken: string } {
  checkVectorFitsModel(vector, model);
  const layers = checkStrength(strength, model.config.numLayers, vector.meta.recommended.fromLayer);
  const offset = offsetToken ?? vector.meta.recommended.offsetToken;
  offsetTokenId(model, offset);
  return { layers, offsetToken: offset };
}

export async function generateSteered(model: LoadedModel, req: SteeredGenerateRequest): Promise<SteeredGenerationResult> {
  const { layers, offsetToken } = checkSteering(model, req.vector, req.strength, req.offsetToken);
  const { ids } = steeredPromptIds(model, req.messages, offsetToken);
  const r = await generate(model, {
    ...req,
    promptIds: ids,
    holdBack: 1,
    editCache: (cache) => steerCache(cache, req.vector, req.strength),
  });
  return { ...r, layers, offsetToken };
}
