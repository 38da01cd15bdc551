/**
 * The only engine module that touches ONNX Runtime: runs one forward pass of a causal LM session
 * in the optimum/transformers.js layout, feeding `input_ids`, `attention_mask`, `position_ids` and
 * `num_logits_to_keep` when the graph declares them, the cache as `past_key_values.*`, and
 * optional activation-steering inputs. Returns logits and the new cache as a KvCache.
 */
import * as ort from 'onnxruntime-node';
import { KvsteerError, throwIfAborted } from '../util/errors';
import { concatArrays } from '../util/concatArrays';
import { KvCache } from './kvCache';
import { prefillCallTokens, prefillCalls } from './prefillCallTokens';
import type { BackendGeometry } from './ortWorkerProtocol';

export interface ForwardRequest {
  tokens: number[];
  cache: KvCache;
  /** How many final positions to return logits for (1 while decoding). */
  logitsToKeep: number;
  /** Added to the residual stream after block l, at every position (graphs built by kvsteer). */
  activationAdd?: ReadonlyMap<number, Float32Array>;
  /** Return the residual stream after these blocks, for every position of this call. */
  hiddenStateLayers?: readonly number[];
  /**
   * Checked between the chunks of a long prompt, so cancelling does not wait for all of it (a
   * 2,400-token prompt is seconds, minutes on a busy machine); `cancelled` names the work.
   */
  signal?: AbortSignal;
  cancelled?: string;
}

export interface ForwardResult {
  /** [logitsToKeep, vocab] row-major. */
  logits: Float32Array;
  cache: KvCache;
  /** layer → [tokens.length, hidden] */
  hiddenStates: Map<number, Float32Array>;
}

/** The parts of an InferenceSession we use (transformers.js hands us onnxruntime-node's). */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>>;
  /**
   * A whole forward pass in another thread (WorkerSession), by a backend there of this geometry;
   * the cache it returns lives there.
   */
  forwardInWorker?(req: ForwardRequest, geometry: BackendGeometry, prefillChunk: number): Promise<ForwardResult>;
  release?(): Promise<void>;
  /** Shapes as the graph declares them (onnxruntime-node ≥ 1.22); absent or shapeless on older ones. */
  readonly inputMetadata?: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata?: readonly ort.InferenceSession.ValueMetadata[];
}

/** What config.json says about the graph, each with the config field it came from. */
export interface GraphGeometry {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
}

export interface GeometryMismatch {
  field: keyof GraphGeometry;
  configValue: number;
  graphValue: number;
  /** Where the graph says it, e.g. "as the logits' last dimension". */
  where: string;
}

/**
 * The first place the graph's declared shapes disagree with the config, or undefined. A wrong
 * config otherwise gives garbage tokens (vocab size) or an ORT shape error at the first forward
 * pass. Dimensions the graph leaves symbolic or undeclared are not checked.
 */
export function graphGeometryMismatch(session: OrtSessionLike, g: GraphGeometry): GeometryMismatch | undefined {
  const dims = (meta: readonly ort.InferenceSession.ValueMetadata[] | undefined, name: string): ReadonlyArray<number | string> | undefined => {
    const m = meta?.find((x) => x.name === name);
    return m && m.isTensor && m.shape.length > 0 ? m.shape : undefined;
  };
  const fixed = (d: number | string | undefined): d is number => typeof d === 'number' && d > 0;
  const logits = dims(session.outputMetadata, 'logits');
  const vocab = logits?.[logits.length - 1];
  if (fixed(vocab) && vocab !== g.vocabSize) return { field: 'vocabSize', configValue: g.vocabSize, graphValue: vocab, where: "as the logits' last dimension" };
  const pastInputs = session.inputNames.filter((n) => /^past_key_values\.\d+\.(key|value)$/.test(n)).length;
  if (pastInputs !== 2 * g.numLayers) return { field: 'numLayers', configValue: g.numLayers, graphValue: pastInputs / 2, where: `layers (${pastInputs} past_key_values inputs, two per layer)` };
  const key = dims(session.inputMetadata, 'past_key_values.0.key');
  if (key?.length === 4) {
    if (fixed(key[1]) && key[1] !== g.numKvHeads) return { field: 'numKvHeads', configValue: g.numKvHeads, graphValue: key[1], where: 'as dimension 1 of past_key_values.0.key' };
    if (fixed(key[3]) && key[3] !== g.headDim) return { field: 'headDim', configValue: g.headDim, graphValue: key[3], where: 'as dimension 3 of past_key_values.0.key' };
  }
  return undefined;
}

/**
 * Longest run of tokens one call gets, whatever the graph's layout (`prefillCallTokens` makes
 * calls shorter as the cache grows). Attention scores a call's new
 * tokens against each other in an S×S matrix, so a long prompt in one call makes several
 * elementwise passes over a large matrix; in chunks it attends to the earlier chunks through the
 * cache (a graph in optimum's layout returns the whole cache each call: one more copy of it per
 * chunk, not a larger peak). Measured on a kvsteer-built SmolLM2-135M, 1800-token prompt, 2 threads: one call 5.6 s and 1054 MB peak,
 * chunks of 256 3.5 s and 660 MB (GroupQueryAttention in one call: 3.3–3.6 s, 870 MB).
 */
export const PREFILL_CHUNK = 256;

export class OnnxBackend {
  private readonly inputs: Set<string>;
  readonly supportsActivationSteering: boolean;
  private readonly baseFetches: string[];
  /**
   * Graphs built by kvsteer output just the new cache rows (`new_key_values.*`); the cache then
   * grows in place. Other graphs (optimum exports) return the whole cache (`present.*`) every call.
   */
  private readonly cacheOutput: 'new_key_values' | 'present';
  /** Zero residual additions, fed on every call to graphs that have the inputs. */
  private zeroAdds?: ort.Tensor[];

  constructor(
    private readonly session: OrtSessionLike,
    readonly numLayers: number,
    readonly numKvHeads: number,
    readonly headDim: number,
    readonly vocabSize: number,
    readonly hiddenSize: number,
    /** Most tokens per call (tests make it small). */
    readonly prefillChunk = PREFILL_CHUNK,
  ) {
    this.inputs = new Set(session.inputNames);
    for (const name of ['input_ids', 'attention_mask', 'past_key_values.0.key']) {
      if (!this.inputs.has(name)) throw new KvsteerError('MODEL_LOAD_FAILED', `the ONNX graph has no input "${name}" (expected the optimum decoder layout with a KV cache)`);
    }
    this.supportsActivationSteering = this.inputs.has('activation_add.0') && session.outputNames.includes('hidden_states.0');
    if (this.supportsActivationSteering) {
      const zeros = new Float32Array(hiddenSize);
      this.zeroAdds = Array.from({ length: numLayers }, () => new ort.Tensor('float32', zeros, [hiddenSize]));
    }
    this.cacheOutput = session.outputNames.includes('new_key_values.0.key') ? 'new_key_values' : 'present';
    this.baseFetches = ['logits'];
    for (let l = 0; l < numLayers; l++) this.baseFetches.push(`${this.cacheOutput}.${l}.key`, `${this.cacheOutput}.${l}.value`);
  }

  /** The same session, fed long prompts in chunks of `chunk` tokens. */
  withPrefillChunk(chunk: number): OnnxBackend {
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`prefill chunk must be a positive integer, got ${chunk}`);
    return new OnnxBackend(this.session, this.numLayers, this.numKvHeads, this.headDim, this.vocabSize, this.hiddenSize, chunk);
  }

  emptyCache(): KvCache {
    return KvCache.empty(this.numLayers, this.numKvHeads, this.headDim);
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    if (this.session.forwardInWorker) {
      const { numLayers, numKvHeads, headDim, vocabSize, hiddenSize } = this;
      return this.session.forwardInWorker(req, { numLayers, numKvHeads, headDim, vocabSize, hiddenSize }, this.prefillChunk);
    }
    const n = req.tokens.length;
    if (n > prefillCallTokens(req.cache.length, this, this.prefillChunk)) return this.forwardInChunks(req);
    return this.forwardOnce(req);
  }

  /**
   * The calls `prefillCalls` cuts the prompt into, each attending to the ones before through the
   * cache; the result is the one-call result: logits of the last `logitsToKeep` positions and hidden
   * states of every position, in order.
   */
  private async forwardInChunks(req: ForwardRequest): Promise<ForwardResult> {
    const n = req.tokens.length;
    const keep = Math.max(1, Math.min(req.logitsToKeep, n));
    const logits: Float32Array[] = [];
    const hidden = new Map<number, Float32Array[]>();
    let cache = req.cache;
    for (const [start, end] of prefillCalls(n, req.cache.length, this, this.prefillChunk)) {
      if (start > 0) throwIfAborted(req.signal, req.cancelled ?? 'the prompt');
      // Positions of this chunk among the last `keep`; the graph returns at least one row.
      const wanted = Math.max(0, end - Math.max(start, n - keep));
      const r = await this.forwardOnce({ ...req, tokens: req.tokens.slice(start, end), cache, logitsToKeep: Math.max(1, wanted) });
      if (wanted > 0) logits.push(r.logits);
      for (const [l, h] of r.hiddenStates) hidden.set(l, [...(hidden.get(l) ?? []), h]);
      cache = r.cache;
    }
    const concat = (parts: Float32Array[]) => concatArrays(parts, (n) => new Float32Array(n));
    return { logits: concat(logits), cache, hiddenStates: new Map([...hidden].map(([l, parts]) => [l, concat(parts)])) };
  }

  private async forwardOnce(req: ForwardRequest): Promise<ForwardResult> {
    const n = req.tokens.length;
    const past = req.cache.length;
    const total = past + n;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(req.tokens, (t) => BigInt(t)), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    };
    if (this.inputs.has('position_ids')) {
      feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(past + i)), [1, n]);
    }
    const keep = Math.max(1, Math.min(req.logitsToKeep, n));
    if (this.inputs.has('num_logits_to_keep')) feeds.num_logits_to_keep = new ort.Tensor('int64', BigInt64Array.from([BigInt(keep)]), []);
    const dims = [1, this.numKvHeads, past, this.headDim];
    req.cache.layers.forEach((layer, l) => {
      feeds[`past_key_values.${l}.key`] = new ort.Tensor('float32', layer.key, dims);
      feeds[`past_key_values.${l}.value`] = new ort.Tensor('float32', layer.value, dims);
    });
    const fetches = [...this.baseFetches];
    if ((req.activationAdd?.size || req.hiddenStateLayers?.length) && !this.supportsActivationSteering) {
      throw new KvsteerError('INVALID_ARGUMENT', 'activation steering is not supported by this model: only models imported from GGUF by kvsteer have residual-stream inputs');
    }
    this.zeroAdds?.forEach((zero, l) => {
      const v = req.activationAdd?.get(l);
      feeds[`activation_add.${l}`] = v ? new ort.Tensor('float32', v, [v.length]) : zero;
    });
    for (const l of req.hiddenStateLayers ?? []) fetches.push(`hidden_states.${l}`);
    const out = await this.session.run(feeds, fetches);
    const logitsAll = out.logits.data as Float32Array;
    const rows = logitsAll.length / this.vocabSize;
    // Graphs without num_logits_to_keep return every position; keep the last `keep`.
    const logits = rows === keep ? logitsAll : logitsAll.subarray((rows - keep) * this.vocabSize);
    const cacheOut = this.cacheOutput;
    const layers = [];
    for (let l = 0; l < this.numLayers; l++) {
      layers.push({ key: out[`${cacheOut}.${l}.key`].data as Float32Array, value: out[`${cacheOut}.${l}.value`].data as Float32Array });
    }
    const hiddenStates = new Map<number, Float32Array>();
    for (const l of req.hiddenStateLayers ?? []) hiddenStates.set(l, out[`hidden_states.${l}`].data as Float32Array);
    const cache = cacheOut === 'new_key_values' ? req.cache.appended(layers, n) : new KvCache(this.numKvHeads, this.headDim, total, layers);
    return { logits, cache, hiddenStates };
  }

  async dispose(): Promise<void> {
    await this.session.release?.();
  }
}
