/**
 * Extraction (paper §3): one forward pass per prompt; at the last token, every layer's cached key
 * (after RoPE, as the cache holds it) and value; the vector is the mean over pairs of
 * positive − negative. The same pass also reads the residual stream after each block at the last
 * token (when the graph exposes it), whose mean difference is the activation-steering (CAA)
 * direction the evaluation compares against. Reports progress and stops between prompts when
 * cancelled.
 */
import { KvsteerError, throwIfAborted } from '../util/errors';
import { LoadedModel } from '../model/loadModel';
import { ContrastivePair } from './contrastivePairs';

export interface ExtractOptions {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ExtractedDirections {
  keys: Float32Array[];
  values: Float32Array[];
  /** Residual stream after each block (CAA directions), when the model exposes it. */
  hidden?: Float32Array[];
}

/** Every layer's key and value at the last position of `prompt` (`what` names it in errors). */
export async function lastTokenKv(model: LoadedModel, prompt: string, what = 'the prompt', signal?: AbortSignal): Promise<ExtractedDirections> {
  const ids = model.tokenizer.encode(prompt);
  if (ids.length > model.config.maxPositions) {
    throw new KvsteerError(
      'PROMPT_TOO_LONG',
      `${what} has ${ids.length} tokens but the model's context window is ${model.config.maxPositions}: use fewer demonstrations or shorter items`,
    );
  }
  const withHidden = model.backend.supportsActivationSteering;
  const layers = Array.from({ length: model.config.numLayers }, (_, l) => l);
  const r = await model.backend.forward({ tokens: ids, cache: model.backend.emptyCache(), logitsToKeep: 1, hiddenStateLayers: withHidden ? layers : undefined, signal, cancelled: 'steering vector extraction' });
  const last = r.cache.length - 1;
  const H = model.config.hiddenSize;
  return {
    keys: layers.map((l) => r.cache.read(l, 'key', last)),
    values: layers.map((l) => r.cache.read(l, 'value', last)),
    hidden: withHidden ? layers.map((l) => r.hiddenStates.get(l)!.slice(last * H, (last + 1) * H)) : undefined,
  };
}

export async function extractDirections(model: LoadedModel, pairs: ContrastivePair[], opts: ExtractOptions = {}): Promise<ExtractedDirections> {
  const L = model.config.numLayers;
  const size = model.config.numKvHeads * model.config.headDim;
  // Accumulate in f64 so the mean does not depend on the order of a few hundred f32 additions.
  const sumK = Array.from({ length: L }, () => new Float64Array(size));
  const sumV = Array.from({ length: L }, () => new Float64Array(size));
  const sumH = model.backend.supportsActivationSteering ? Array.from({ length: L }, () => new Float64Array(model.config.hiddenSize)) : undefined;
  for (let p = 0; p < pairs.length; p++) {
    throwIfAborted(opts.signal, 'steering vector extraction');
    const pos = await lastTokenKv(model, pairs[p].positive, `the positive prompt of contrastive pair ${p + 1}`, opts.signal);
    throwIfAborted(opts.signal, 'steering vector extraction');
    const neg = await lastTokenKv(model, pairs[p].negative, `the negative prompt of contrastive pair ${p + 1}`, opts.signal);
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < size; i++) {
        sumK[l][i] += pos.keys[l][i] - neg.keys[l][i];
        sumV[l][i] += pos.values[l][i] - neg.values[l][i];
      }
      if (sumH) for (let i = 0; i < sumH[l].length; i++) sumH[l][i] += pos.hidden![l][i] - neg.hidden![l][i];
    }
    opts.onProgress?.(p + 1, pairs.length);
  }
  const mean = (s: Float64Array) => Float32Array.from(s, (x) => x / pairs.length);
  return { keys: sumK.map(mean), values: sumV.map(mean), hidden: sumH?.map(mean) };
}
