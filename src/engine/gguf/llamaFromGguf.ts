/**
 * Reads a Llama-architecture GGUF (or Qwen2, the same block with Q/K/V biases; Qwen3, the same
 * block with an RMSNorm on each query and key head before RoPE; Gemma 3, with those head norms and
 * the additions `gemma3Extras` lists) into the graph builder's terms: the model spec from metadata
 * and the weights from tensors, with llama.cpp's Q/K row permutation undone for Llama (its
 * converter interleaves rotary pairs for llama.cpp's "normal" RoPE; Hugging Face's `rotate_half`
 * layout, which ONNX Runtime's rotary kernel and our cache format use, keeps the halves apart).
 * Qwen2, Qwen3 and Gemma 3 files need no undoing: llama.cpp runs them with NeoX RoPE, which is
 * `rotate_half`, so their converters leave the rows alone.
 */
import { KvsteerError } from '../util/errors';
import { LlamaSpec, LlamaWeights } from '../onnx/llamaGraph';
import { LinearWeight, inRowSlices, linearFromGgml, permuteRows, rowsFromQ6K } from '../onnx/linearWeight';
import { Steps, runSteps } from '../util/steps';
import { dequantize } from './dequantize';
import { GgufFile, GgufTensorInfo, metaNumber, metaString, readTensorBytes } from './ggufFile';
import { GgmlType, ggmlBlockLayout, ggmlTypeName } from './ggmlTypes';

export const SUPPORTED_ARCHITECTURES = ['llama', 'qwen2', 'qwen3', 'gemma3'];

/** Architectures llama.cpp runs with NeoX RoPE: their Q/K rows are stored in Hugging Face order. */
const NEOX_ARCHITECTURES = ['qwen2', 'qwen3', 'gemma3'];

export function llamaSpecFromGguf(f: GgufFile): LlamaSpec {
  const arch = metaString(f, 'general.architecture');
  if (!SUPPORTED_ARCHITECTURES.includes(arch)) {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: architecture "${arch}" is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  /** A size or count: a positive whole number, or the graph is built from NaN or fractions. */
  const count = (key: string, fallback?: number): number => {
    const v = metaNumber(f, key, fallback);
    if (!Number.isSafeInteger(v) || v < 1) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: metadata ${key} is ${v}, not a positive whole number`);
    return v;
  };
  /** A positive finite real (a NaN or negative epsilon, or a RoPE base of 0, makes every logit NaN). */
  const positive = (key: string, fallback: number): number => {
    const v = metaNumber(f, key, fallback);
    if (!(v > 0 && Number.isFinite(v))) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: metadata ${key} is ${v}, not a positive number`);
    return v;
  };
  const hiddenSize = count(`${arch}.embedding_length`);
  const numHeads = count(`${arch}.attention.head_count`);
  const numKvHeads = count(`${arch}.attention.head_count_kv`, numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new KvsteerError('GGUF_CORRUPT', `${f.path}: ${numHeads} attention heads cannot share ${numKvHeads} key/value heads evenly`);
  }
  if (!f.metadata.has(`${arch}.attention.key_length`) && hiddenSize % numHeads !== 0) {
    throw new KvsteerError('GGUF_CORRUPT', `${f.path}: ${numHeads} attention heads do not divide the embedding size ${hiddenSize} (and ${arch}.attention.key_length is absent)`);
  }
  const headDim = count(`${arch}.attention.key_length`, hiddenSize / numHeads);
  const valueDim = metaNumber(f, `${arch}.attention.value_length`, headDim);
  if (valueDim !== headDim) {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: value heads of ${valueDim} dims with key heads of ${headDim} are not supported`);
  }
  const ropeDims = metaNumber(f, `${arch}.rope.dimension_count`, headDim);
  if (ropeDims !== headDim) {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: partial rotary embedding (${ropeDims} of ${headDim} dims) is not supported`);
  }
  const scaling = f.metadata.get(`${arch}.rope.scaling.type`) ?? 'none';
  if (scaling !== 'none' && scaling !== 'linear') {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: rope scaling "${String(scaling)}" is not supported (only none and linear)`);
  }
  // Linear scaling (position interpolation): llama.cpp divides every position by the factor.
  const factor = scaling === 'linear' ? metaNumber(f, `${arch}.rope.scaling.factor`, 1) : 1;
  if (!(factor > 0)) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: rope scaling factor ${factor} is not positive`);
  const tokens = f.metadata.get('tokenizer.ggml.tokens');
  // Read, or only counted (openGguf's stringArrays: 'count').
  const tokenCount = f.stringArrayLengths?.get('tokenizer.ggml.tokens') ?? (Array.isArray(tokens) ? tokens.length : undefined);
  const embd = tensor(f, 'token_embd.weight');
  if (embd.dims.length !== 2) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor token_embd.weight should be 2-D`);
  const vocabSize = embd.dims[1];
  if (tokenCount !== undefined && tokenCount !== vocabSize) {
    throw new KvsteerError('GGUF_CORRUPT', `${f.path}: the vocabulary has ${tokenCount} tokens but token_embd has ${vocabSize} rows`);
  }
  const freqs = f.tensors.get('rope_freqs.weight');
  const numLayers = count(`${arch}.block_count`);
  // llama.cpp refuses tensors it did not load; here a low block count would drop layers in silence.
  const beyond = [...f.tensors.keys()].find((name) => Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1) >= numLayers);
  if (beyond) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor ${beyond} lies beyond the ${numLayers} blocks ${arch}.block_count declares`);
  return {
    ...(arch === 'gemma3' ? gemma3Extras(f, { hiddenSize, numHeads, headDim, numLayers }) : {}),
    architecture: arch,
    hiddenSize,
    intermediateSize: count(`${arch}.feed_forward_length`),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positive(`${arch}.attention.layer_norm_rms_epsilon`, 1e-5),
    ropeTheta: positive(`${arch}.rope.freq_base`, 10000),
    ropeFreqFactors: freqs ? dequantize(freqs.type, readTensorBytes(f, freqs), freqs.elements) : undefined,
    ropePositionScale: 1 / factor,
    maxPositions: count(`${arch}.context_length`, 4096),
    vocabSize,
  };
}

/**
 * What Gemma 3 adds to the Llama block, as llama.cpp reads it: embeddings scaled by √hidden, GELU
 * (tanh form) gating, and sliding-window attention on every layer but each `pattern`-th (local
 * layers with RoPE base `rope.freq_base_swa`, default 10000, and no position scaling). Norm weights
 * need nothing: Gemma's converter already stores them as 1 + w.
 */
function gemma3Extras(f: GgufFile, { hiddenSize, numHeads, headDim, numLayers }: Pick<LlamaSpec, 'hiddenSize' | 'numHeads' | 'headDim' | 'numLayers'>): Partial<LlamaSpec> {
  const window = metaNumber(f, 'gemma3.attention.sliding_window', 0);
  const pattern = metaNumber(f, 'gemma3.attention.sliding_window_pattern', 6);
  const softcap = metaNumber(f, 'gemma3.final_logit_softcapping', 0);
  return {
    embeddingScale: Math.fround(Math.sqrt(hiddenSize)),
    // llama.cpp (after gemma_pytorch): the 27B model scales by hidden / heads, the others by the head size.
    attentionScale: 1 / Math.sqrt(numLayers === 62 ? hiddenSize / numHeads : headDim),
    activation: 'gelu_tanh',
    ...(window > 0
      ? {
          slidingWindow: {
            size: window,
            local: Array.from({ length: numLayers }, (_, l) => pattern === 0 || l % pattern < pattern - 1),
            ropeTheta: metaNumber(f, 'gemma3.rope.freq_base_swa', 10000),
          },
        }
      : {}),
    ...(softcap ? { finalLogitSoftcap: softcap } : {}),
  };
}

/**
 * Inverse of llama.cpp's permutation for one Q or K matrix of `heads` heads of size `headDim`:
 * GGUF row h·D + 2i + j holds Hugging Face row h·D + j·D/2 + i.
 */
export function unpermuteQK(w: LinearWeight, heads: number, headDim: number): LinearWeight {
  const perm = new Array<number>(heads * headDim);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) perm[h * headDim + j * half + i] = h * headDim + 2 * i + j;
  return permuteRows(w, perm);
}

export function llamaWeightsFromGguf(f: GgufFile, spec: LlamaSpec, onLayer?: (done: number, total: number) => void): LlamaWeights {
  return runSteps(llamaWeightsSteps(f, spec, onLayer));
}

/**
 * llamaWeightsFromGguf as steps (util/steps): it yields before each matrix, and within a large one
 * every few MB, which it reads and converts a slice of rows at a time.
 */
export function* llamaWeightsSteps(f: GgufFile, spec: LlamaSpec, onLayer?: (done: number, total: number) => void): Steps<LlamaWeights> {
  /** Tensor `t` as `rows` rows, read and converted by `convert(bytes, rows)` a slice of rows at a time. */
  const sliced = function* (t: GgufTensorInfo, rows: number, convert: (bytes: Uint8Array, rows: number) => LinearWeight): Steps<LinearWeight> {
    const cols = t.elements / rows, rowBytes = t.byteSize / rows;
    // Rows of whole blocks only (ggml's rule; a file breaking it is converted in one piece, as before).
    if (cols % (ggmlBlockLayout(t.type)?.blockSize ?? NaN) !== 0) return convert(readTensorBytes(f, t), rows);
    return yield* inRowSlices(rows, rowBytes, (r0, r1) => convert(readTensorBytes(f, t, { start: r0 * rowBytes, length: (r1 - r0) * rowBytes }), r1 - r0));
  };
  /** A [rows (outputs) × cols (inputs)] matrix; its shape is checked against the spec the metadata gives. */
  const lin = function* (name: string, rows: number, cols: number): Steps<LinearWeight> {
    yield;
    const t = tensor(f, name);
    if (t.dims.length !== 2) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor ${name} should be 2-D`);
    // Caught here, before minutes of conversion end in ONNX Runtime's shape error without the cause.
    if (t.dims[1] !== rows || t.dims[0] !== cols) {
      throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor ${name} is ${t.dims[1]} × ${t.dims[0]}, but the metadata's sizes make it ${rows} × ${cols}`);
    }
    try {
      return yield* sliced(t, rows, (bytes, n) => linearFromGgml(t.type, bytes, n, cols));
    } catch (e) {
      if (e instanceof KvsteerError) throw new KvsteerError(e.code, `${f.path}: tensor ${name}: ${e.message}`);
      throw e;
    }
  };
  const vec = (name: string, n: number): Float32Array => {
    const t = tensor(f, name);
    if (t.elements !== n) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor ${name} has ${t.elements} values, expected ${n}`);
    return dequantize(t.type, readTensorBytes(f, t), n);
  };
  const { hiddenSize: H } = spec;
  const embd = tensor(f, 'token_embd.weight');
  // Checked here as lin() checks the matrices: with a separate output head, nothing else reads its width.
  if (embd.dims[0] !== H) {
    throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor token_embd.weight is ${embd.dims[1]} × ${embd.dims[0]}, but the metadata's sizes make it ${spec.vocabSize} × ${H}`);
  }
  let embedding: LinearWeight;
  try {
    // Q8_0 and Q6_K rows stay 8-bit (the graph gathers them with GatherBlockQuantized); others become f32.
    embedding = yield* sliced(embd, spec.vocabSize, (bytes, n) =>
      embd.type === GgmlType.Q8_0 && H % 32 === 0
        ? linearFromGgml(embd.type, bytes, n, H)
        : embd.type === GgmlType.Q6_K && H % 256 === 0
          ? rowsFromQ6K(bytes, n, H)
          : { kind: 'float', rows: n, cols: H, data: dequantize(embd.type, bytes, n * H) },
    );
  } catch (e) {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: tensor token_embd.weight: ${(e as Error).message}`);
  }
  const qwen2 = spec.architecture === 'qwen2';
  const headNorms = spec.architecture === 'qwen3' || spec.architecture === 'gemma3';
  const gemma3 = spec.architecture === 'gemma3';
  const neox = NEOX_ARCHITECTURES.includes(spec.architecture ?? 'llama');
  const layers: LlamaWeights['layers'] = [];
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `blk.${l}.`;
    if (!qwen2) {
      // llama.cpp's Llama converter permutes Q/K biases too, and no Llama file we can test has them;
      // llama.cpp itself loads none for Qwen3 or Gemma 3.
      for (const bias of ['attn_q.bias', 'attn_k.bias', 'attn_v.bias']) {
        if (f.tensors.has(p + bias)) throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: attention biases (${p + bias}) are not supported for architecture "${spec.architecture}"`);
      }
    }
    const qDim = spec.numHeads * spec.headDim, kvDim = spec.numKvHeads * spec.headDim, F = spec.intermediateSize;
    const q = yield* lin(p + 'attn_q.weight', qDim, H), k = yield* lin(p + 'attn_k.weight', kvDim, H);
    layers.push({
      attnNorm: vec(p + 'attn_norm.weight', H),
      q: neox ? q : unpermuteQK(q, spec.numHeads, spec.headDim),
      k: neox ? k : unpermuteQK(k, spec.numKvHeads, spec.headDim),
      v: yield* lin(p + 'attn_v.weight', kvDim, H),
      ...(headNorms ? { qNorm: vec(p + 'attn_q_norm.weight', spec.headDim), kNorm: vec(p + 'attn_k_norm.weight', spec.headDim) } : {}),
      ...(gemma3 ? { postAttnNorm: vec(p + 'post_attention_norm.weight', H), postFfnNorm: vec(p + 'post_ffw_norm.weight', H) } : {}),
      // Qwen2 always has them (llama.cpp requires them too).
      ...(qwen2
        ? {
            qBias: vec(p + 'attn_q.bias', spec.numHeads * spec.headDim),
            kBias: vec(p + 'attn_k.bias', spec.numKvHeads * spec.headDim),
            vBias: vec(p + 'attn_v.bias', spec.numKvHeads * spec.headDim),
          }
        : {}),
      o: yield* lin(p + 'attn_output.weight', H, qDim),
      ffnNorm: vec(p + 'ffn_norm.weight', H),
      gate: yield* lin(p + 'ffn_gate.weight', F, H),
      up: yield* lin(p + 'ffn_up.weight', F, H),
      down: yield* lin(p + 'ffn_down.weight', H, F),
    });
    onLayer?.(l + 1, spec.numLayers);
  }
  return {
    embedding,
    layers,
    finalNorm: vec('output_norm.weight', H),
    // No `output` tensor means the head is tied to the embeddings.
    lmHead: f.tensors.has('output.weight') ? yield* lin('output.weight', spec.vocabSize, H) : yield* lin('token_embd.weight', spec.vocabSize, H),
  };
}

function tensor(f: GgufFile, name: string): GgufTensorInfo {
  const t = f.tensors.get(name);
  if (!t) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tensor ${name} is missing`);
  return t;
}

export function describeTensorTypes(f: GgufFile): string {
  const counts = new Map<string, number>();
  for (const t of f.tensors.values()) counts.set(ggmlTypeName(t.type), (counts.get(ggmlTypeName(t.type)) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v}×${k}`).join(', ');
}
