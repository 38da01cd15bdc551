/**
 * Builds the ONNX decoder graph of a Llama-architecture model with the inputs transformers.js and
 * optimum use: `input_ids`, `attention_mask`, `past_key_values.{i}.key|value`
 * ([batch_size, kv_heads, past_sequence_length, head_dim]) and `num_logits_to_keep`. Outputs are
 * `logits` and, instead of optimum's `present.{i}.key|value` (past and new rows together), only
 * this call's rows, `new_key_values.{i}.key|value`: the engine appends them to its cache. ONNX
 * Runtime computes every graph output whether fetched or not, and the present.* copies cost
 * ~1 ms per step at 128 cached tokens and ~4 ms at 1000 on SmolLM2-135M (measured side by side).
 * Keys are cached after RoPE (rotate-half) and before grouped-query head repetition: the layout
 * the steering vectors are defined in. `cacheOutputs: 'present'` builds optimum's outputs instead,
 * as hub models have them (tests use it to check the engine's path for those).
 *
 * Extras for activation steering (CAA): `activation_add.{l}` inputs ([hidden]; fed zeros when not
 * steering) added to the residual stream after block l at every position, and `hidden_states.{l}`
 * outputs exposing that stream.
 */
import { GraphBuilder } from './graphBuilder';
import { TensorDataType } from './onnxProto';
import { LinearWeight, SLICE_BYTES, blockLength, concatRows, splitEightBitSteps, zeroPoint } from './linearWeight';
import { Steps, runSteps } from '../util/steps';

export interface LlamaSpec {
  /** GGUF architecture the weights came from ('llama', 'qwen2', 'qwen3' or 'gemma3'); what differs is in the options below. */
  architecture?: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Per-frequency divisors (llama 3 `rope_freqs`), length headDim/2. */
  ropeFreqFactors?: Float32Array;
  /** Multiplier of positions in the rotary angles (1 / linear scaling factor; default 1). */
  ropePositionScale?: number;
  /** Rows of the precomputed cos/sin tables: the longest context the graph supports. */
  maxPositions: number;
  vocabSize: number;
  /** Multiplier of the token embeddings (Gemma 3: √hidden); default 1. */
  embeddingScale?: number;
  /** Multiplier of query·key scores; default 1/√headDim. */
  attentionScale?: number;
  /** Feed-forward activation of the gate: SiLU (default) or GELU's tanh form (Gemma 3). */
  activation?: 'silu' | 'gelu_tanh';
  /**
   * Sliding-window attention (Gemma 3): layers marked local see only keys fewer than `size`
   * positions back and use their own RoPE base, without the position scaling of global layers.
   */
  slidingWindow?: { size: number; local: boolean[]; ropeTheta: number };
  /** Final logit soft-capping c: logits = c·tanh(logits / c); none when undefined. */
  finalLogitSoftcap?: number;
}

export interface LlamaLayerWeights {
  attnNorm: Float32Array;
  /** Q and K in Hugging Face row order (llama.cpp's RoPE permutation already undone). */
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  /** Projection biases (Qwen2), in the same row order as the weights. */
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  /** RMSNorm weights ([headDim]) applied to each query and key head before RoPE (Qwen3, Gemma 3). */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  /** RMSNorms of the attention and feed-forward outputs before they join the residual (Gemma 3). */
  postAttnNorm?: Float32Array;
  postFfnNorm?: Float32Array;
  o: LinearWeight;
  ffnNorm: Float32Array;
  gate: LinearWeight;
  up: LinearWeight;
  down: LinearWeight;
}

export interface LlamaWeights {
  /** Token embeddings, [vocab, hidden]: f32, or 8-bit blocks without offsets (Q8_0). */
  embedding: LinearWeight;
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array;
  lmHead: LinearWeight;
}

export interface LlamaGraphOptions {
  /** Add `activation_add.{l}` inputs and `hidden_states.{l}` outputs (for CAA). Default true. */
  activationSteering?: boolean;
  /**
   * MatMulNBits accuracy_level of every packed weight, the vocabulary projection included: 0 = f32
   * arithmetic on the exact stored values (default), 4 = int8-quantised activations.
   */
  accuracyLevel?: number;
  /** 'new_key_values' (default): this call's cache rows; 'present': past and new rows, as optimum. */
  cacheOutputs?: 'new_key_values' | 'present';
}

const MS = 'com.microsoft';

export function buildLlamaGraph(spec: LlamaSpec, w: LlamaWeights, opts: LlamaGraphOptions = {}): GraphBuilder {
  return runSteps(llamaGraphSteps(spec, w, opts));
}

/** buildLlamaGraph as steps (util/steps): it yields before each layer and within large weights. */
export function* llamaGraphSteps(spec: LlamaSpec, w: LlamaWeights, opts: LlamaGraphOptions = {}): Steps<GraphBuilder> {
  const g = new GraphBuilder('kvsteer_llama');
  g.useOpset(MS, 1);
  const steerActs = opts.activationSteering ?? true;
  const accuracy = opts.accuracyLevel ?? 0;
  const { hiddenSize: H, numKvHeads, headDim } = spec;

  const inputIds = g.input('input_ids', TensorDataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', TensorDataType.INT64, ['batch_size', 'total_sequence_length']);
  const pastShape = ['batch_size', numKvHeads, 'past_sequence_length', headDim];
  for (let l = 0; l < spec.numLayers; l++) {
    g.input(`past_key_values.${l}.key`, TensorDataType.FLOAT, pastShape);
    g.input(`past_key_values.${l}.value`, TensorDataType.FLOAT, pastShape);
  }
  const keep = g.input('num_logits_to_keep', TensorDataType.INT64, []);

  const globalRope = yield* ropeTables(g, spec, 'rope');
  const localRope = spec.slidingWindow
    ? yield* ropeTables(g, { ...spec, ropeTheta: spec.slidingWindow.ropeTheta, ropePositionScale: 1, ropeFreqFactors: undefined }, 'rope_local')
    : globalRope;
  const call = attentionInputs(g, inputIds, mask, spec);

  let x = embed(g, w.embedding, inputIds);
  if (spec.embeddingScale !== undefined) x = g.op('Mul', [x, g.floats([spec.embeddingScale], [])]);
  const postNorm = (y: string, gamma: Float32Array | undefined, name: string): string =>
    gamma
      ? rmsNorm(g, y, g.initializer(TensorDataType.FLOAT, [H], gamma, name), spec.rmsNormEps)
      : y;
  // The residual stream is x + pendingAdd (+ pendingBias): each norm fuses that addition, so the
  // activation-steering input costs no extra node (it is the fused op's bias).
  let pendingAdd: string | undefined;
  let pendingBias: { input: string; sumName: string } | undefined;
  const norm = (gamma: Float32Array, name: string): string => {
    const gam = g.initializer(TensorDataType.FLOAT, [H], gamma, name);
    if (pendingAdd === undefined) return rmsNorm(g, x, gam, spec.rmsNormEps);
    const inputs = [pendingAdd, x, gam];
    if (pendingBias) inputs.push(pendingBias.input);
    const [out, , , sum] = g.node('SkipSimplifiedLayerNormalization', inputs, { epsilon: { f: spec.rmsNormEps } }, {
      domain: MS,
      outputs: [g.fresh('normed'), '', '', pendingBias ? pendingBias.sumName : g.fresh('residual')],
    });
    x = sum;
    pendingAdd = undefined;
    pendingBias = undefined;
    return out;
  };

  for (let l = 0; l < spec.numLayers; l++) {
    yield;
    const lw = w.layers[l];
    const h = norm(lw.attnNorm, `model.layers.${l}.input_layernorm.weight`);
    const qkv = concatRows([lw.q, lw.k, lw.v]);
    let q: string, k: string, v: string;
    const withBias = (y: string, bias: Float32Array | undefined, name: string) =>
      bias ? g.op('Add', [y, g.initializer(TensorDataType.FLOAT, [bias.length], bias, name)]) : y;
    const hasBias = lw.qBias || lw.kBias || lw.vBias;
    if (qkv) {
      const bias = hasBias ? concatBiases([[lw.qBias, lw.q.rows], [lw.kBias, lw.k.rows], [lw.vBias, lw.v.rows]]) : undefined;
      q = withBias(yield* linear(g, h, qkv, `model.layers.${l}.self_attn.qkv_proj`, accuracy), bias, `model.layers.${l}.self_attn.qkv_proj.bias`);
      k = v = '';
    } else {
      q = withBias(yield* linear(g, h, lw.q, `model.layers.${l}.self_attn.q_proj`, accuracy), lw.qBias, `model.layers.${l}.self_attn.q_proj.bias`);
      k = withBias(yield* linear(g, h, lw.k, `model.layers.${l}.self_attn.k_proj`, accuracy), lw.kBias, `model.layers.${l}.self_attn.k_proj.bias`);
      v = withBias(yield* linear(g, h, lw.v, `model.layers.${l}.self_attn.v_proj`, accuracy), lw.vBias, `model.layers.${l}.self_attn.v_proj.bias`);
    }
    const headNorms =
      lw.qNorm && lw.kNorm
        ? {
            q: g.initializer(TensorDataType.FLOAT, [headDim], lw.qNorm, `model.layers.${l}.self_attn.q_norm.weight`),
            k: g.initializer(TensorDataType.FLOAT, [headDim], lw.kNorm, `model.layers.${l}.self_attn.k_norm.weight`),
          }
        : undefined;
    const local = spec.slidingWindow?.local[l] ?? false;
    const [cosCache, sinCache] = local ? localRope : globalRope;
    const attn = cacheReadingAttention(g, l, q, k, v, call, cosCache, sinCache, spec, headNorms, local);
    pendingAdd = postNorm(yield* linear(g, attn, lw.o, `model.layers.${l}.self_attn.o_proj`, accuracy), lw.postAttnNorm, `model.layers.${l}.post_attention_norm.weight`);
    const h2 = norm(lw.ffnNorm, `model.layers.${l}.post_attention_layernorm.weight`);
    let gate: string, up: string;
    const gateUp = concatRows([lw.gate, lw.up]);
    if (gateUp) {
      [gate, up] = g.node('Split', [yield* linear(g, h2, gateUp, `model.layers.${l}.mlp.gate_up_proj`, accuracy), g.int64s([lw.gate.rows, lw.up.rows])], { axis: { i: -1 } }, { outputs: 2 });
    } else {
      gate = yield* linear(g, h2, lw.gate, `model.layers.${l}.mlp.gate_proj`, accuracy);
      up = yield* linear(g, h2, lw.up, `model.layers.${l}.mlp.up_proj`, accuracy);
    }
    const gated = spec.activation === 'gelu_tanh' ? g.op('FastGelu', [gate], {}, MS) : g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    const act = g.op('Mul', [gated, up]);
    pendingAdd = postNorm(yield* linear(g, act, lw.down, `model.layers.${l}.mlp.down_proj`, accuracy), lw.postFfnNorm, `model.layers.${l}.post_feedforward_norm.weight`);
    if (steerActs) {
      // A required input (the backend feeds zeros when not steering): ONNX Runtime's Node binding
      // only passes feeds named in inputNames, which leaves out inputs with default initializers.
      pendingBias = { input: g.input(`activation_add.${l}`, TensorDataType.FLOAT, [H]), sumName: `hidden_states.${l}` };
      g.output(`hidden_states.${l}`, TensorDataType.FLOAT, ['batch_size', 'sequence_length', H]);
    }
  }
  const final = norm(w.finalNorm, 'model.norm.weight');
  // Only the last `num_logits_to_keep` positions go through the vocabulary projection.
  const start = g.op('Neg', [g.op('Reshape', [keep, g.int64s([1])])]);
  const last = g.op('Slice', [final, start, g.int64s([Number.MAX_SAFE_INTEGER]), g.int64s([1])]);
  let logits = yield* linear(g, last, w.lmHead, 'lm_head', accuracy);
  if (spec.finalLogitSoftcap !== undefined) {
    const c = g.floats([spec.finalLogitSoftcap], []);
    logits = g.op('Mul', [g.op('Tanh', [g.op('Div', [logits, c])]), c]);
  }
  g.node('Identity', [logits], {}, { outputs: ['logits'] });
  g.output('logits', TensorDataType.FLOAT, ['batch_size', 'logits_length', spec.vocabSize]);
  for (let l = 0; l < spec.numLayers; l++) {
    for (const which of ['key', 'value'] as const) {
      if (opts.cacheOutputs === 'present') {
        g.node('Concat', [`past_key_values.${l}.${which}`, `new_key_values.${l}.${which}`], { axis: { i: 2 } }, { outputs: [`present.${l}.${which}`] });
        g.output(`present.${l}.${which}`, TensorDataType.FLOAT, ['batch_size', numKvHeads, 'total_sequence_length', headDim]);
      } else {
        g.output(`new_key_values.${l}.${which}`, TensorDataType.FLOAT, ['batch_size', numKvHeads, 'sequence_length', headDim]);
      }
    }
  }
  return g;
}

/** What every layer's attention takes from the call's shapes, computed once per call. */
interface AttentionInputs {
  /** Positions of this call's tokens, [1, S]. */
  positions: string;
  /** Number of cached positions before this call, [1]. */
  pastLen: string;
  /** [S, S]: 0 where a new token may attend to another, −∞ above the diagonal. */
  causalMask: string;
  /** Shapes that view new-token scores per query head ([1, kvHeads, group, S, S]) and back. */
  scoreShapes: { perHead: string; grouped: string };
  /**
   * Sliding-window layers only: −∞ where a query is `size` or more positions past a key, for the
   * past keys ([S, past]; with the shape [1, kvHeads, group, S, past] that views their scores per
   * query head) and this call's keys ([S, S], the causal mask included).
   */
  window?: { past: string; pastPerHead: string; causalNew: string };
}

/**
 * The call's tokens are the last S of the attention mask's length (the past cache comes first);
 * all past positions are visible to them.
 */
function attentionInputs(g: GraphBuilder, inputIds: string, mask: string, spec: LlamaSpec): AttentionInputs {
  const seqLen = g.op('Shape', [inputIds], { start: { i: 1 }, end: { i: 2 } });
  const totalLen = g.op('Squeeze', [g.op('Shape', [mask], { start: { i: 1 }, end: { i: 2 } }), g.int64s([0])]);
  const seqScalar = g.op('Squeeze', [seqLen, g.int64s([0])]);
  const pastScalar = g.op('Sub', [totalLen, seqScalar]);
  const idx = g.op('Range', [g.int64s([0], []), seqScalar, g.int64s([1], [])]);
  const group = spec.numHeads / spec.numKvHeads;
  const positions = g.op('Range', [pastScalar, totalLen, g.int64s([1], [])]);
  const pastLen = g.op('Unsqueeze', [pastScalar, g.int64s([0])]);
  const causalMask = g.op('Where', [g.op('Greater', [idx, g.op('Unsqueeze', [idx, g.int64s([1])])]), g.floats([-Infinity], []), g.floats([0], [])]);
  let window: AttentionInputs['window'];
  if (spec.slidingWindow) {
    // Query position minus key position, [S, keys]; a key is out of the window from `size` on.
    const size = g.int64s([spec.slidingWindow.size], []);
    const queryPositions = g.op('Unsqueeze', [positions, g.int64s([1])]);
    const outside = (keyPositions: string) =>
      g.op('Where', [g.op('GreaterOrEqual', [g.op('Sub', [queryPositions, keyPositions]), size]), g.floats([-Infinity], []), g.floats([0], [])]);
    window = {
      past: outside(g.op('Range', [g.int64s([0], []), pastScalar, g.int64s([1], [])])),
      pastPerHead: g.op('Concat', [g.int64s([1, spec.numKvHeads, group]), seqLen, pastLen], { axis: { i: 0 } }),
      causalNew: g.op('Add', [causalMask, outside(positions)]),
    };
  }
  return {
    positions: g.op('Unsqueeze', [positions, g.int64s([0])]),
    pastLen,
    causalMask,
    scoreShapes: {
      perHead: g.op('Concat', [g.int64s([1, spec.numKvHeads, group, -1]), seqLen], { axis: { i: 0 } }),
      grouped: g.op('Concat', [g.int64s([1, spec.numKvHeads, -1]), seqLen], { axis: { i: 0 } }),
    },
    window,
  };
}

/**
 * Causal attention with grouped KV heads that reads the past cache where it lies. Scores against
 * the past rows (FusedMatMul, B transposed) and against this call's rows (causally masked) are
 * concatenated, softmaxed and applied to the two value parts separately, so no step concatenates
 * the cache into a new tensor. ONNX Runtime's GroupQueryAttention did, once per query head, which
 * made a decode step cost ~17 ms more at 1000 cached tokens on SmolLM2-135M. The price is more
 * nodes per layer: below ~130 cached tokens a step is ~1 ms slower than with GroupQueryAttention,
 * from ~250 on it is faster (measured side by side; see CHANGELOG). RoPE is ONNX Runtime's
 * RotaryEmbedding, the kernel GroupQueryAttention runs inside. Wrapping GroupQueryAttention and
 * this in an `If` per layer, to pick by length, measured no faster at short contexts: each `If`
 * cost ~35 µs per step (ONNX Runtime profile), as much as the fused kernel saves.
 */
function cacheReadingAttention(
  g: GraphBuilder,
  l: number,
  q: string,
  k: string,
  v: string,
  call: AttentionInputs,
  cos: string,
  sin: string,
  spec: LlamaSpec,
  headNorms?: { q: string; k: string },
  local = false,
): string {
  const { numHeads, numKvHeads, headDim } = spec;
  if (!k) [q, k, v] = g.node('Split', [q, g.int64s([numHeads * headDim, numKvHeads * headDim, numKvHeads * headDim])], { axis: { i: -1 } }, { outputs: 3 });
  if (headNorms) {
    // RMSNorm over each head's dims: [1, S, heads·D] viewed as [1, S, heads, D] and back.
    const headNorm = (x: string, gamma: string, heads: number) => {
      const perHead = g.op('Reshape', [x, g.int64s([0, 0, heads, headDim])]);
      return g.op('Reshape', [rmsNorm(g, perHead, gamma, spec.rmsNormEps), g.int64s([0, 0, heads * headDim])]);
    };
    q = headNorm(q, headNorms.q, numHeads);
    k = headNorm(k, headNorms.k, numKvHeads);
  }
  const rope = (x: string, heads: number) => g.op('RotaryEmbedding', [x, call.positions, cos, sin], { interleaved: { i: 0 }, num_heads: { i: heads } }, MS);
  // [1, S, heads·D] → [1, heads, S, D]
  const toHeads = (x: string, heads: number, name?: string) =>
    g.node('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, heads, headDim])])], { perm: { ints: [0, 2, 1, 3] } }, name ? { outputs: [name] } : {})[0];
  const newK = `new_key_values.${l}.key`;
  const newV = `new_key_values.${l}.value`;
  toHeads(rope(k, numKvHeads), numKvHeads, newK);
  toHeads(v, numKvHeads, newV);
  // Query heads of one KV head side by side: [1, kvHeads, group·S, D] (query head h uses KV head h / group).
  const qg = g.op('Reshape', [toHeads(rope(q, numHeads), numHeads), g.int64s([0, numKvHeads, -1, headDim])]);
  const scale = { f: spec.attentionScale ?? 1 / Math.sqrt(headDim) };
  let scoresPast = g.op('FusedMatMul', [qg, `past_key_values.${l}.key`], { transB: { i: 1 }, alpha: scale }, MS);
  const scoresNew = g.op('FusedMatMul', [qg, newK], { transB: { i: 1 }, alpha: scale }, MS);
  const window = local ? call.window : undefined;
  if (window) {
    // The past keys' window mask [S, past], per query head as the causal mask below (allowzero:
    // with no past the shapes hold a real 0, not "copy this dimension").
    const exact = { allowzero: { i: 1 } };
    const masked = g.op('Add', [g.op('Reshape', [scoresPast, window.pastPerHead], exact), window.past]);
    scoresPast = g.op('Reshape', [masked, g.op('Shape', [scoresPast])], exact);
  }
  // The mask [S, S] applies per query head: view the scores as [1, kvHeads, group, S, S].
  const newMask = window ? window.causalNew : call.causalMask;
  const maskedNew = g.op('Reshape', [g.op('Add', [g.op('Reshape', [scoresNew, call.scoreShapes.perHead]), newMask]), call.scoreShapes.grouped]);
  const probs = g.op('Softmax', [g.op('Concat', [scoresPast, maskedNew], { axis: { i: -1 } })], { axis: { i: -1 } });
  const probsPast = g.op('Slice', [probs, g.int64s([0]), call.pastLen, g.int64s([-1])]);
  const probsNew = g.op('Slice', [probs, call.pastLen, g.int64s([Number.MAX_SAFE_INTEGER]), g.int64s([-1])]);
  const out = g.op('Add', [g.op('MatMul', [probsPast, `past_key_values.${l}.value`]), g.op('MatMul', [probsNew, newV])]);
  // [1, kvHeads, group·S, D] → [1, heads, S, D] → [1, S, heads·D]
  const perHead = g.op('Reshape', [out, g.int64s([0, numHeads, -1, headDim])]);
  return g.op('Reshape', [g.op('Transpose', [perHead], { perm: { ints: [0, 2, 1, 3] } }), g.int64s([0, 0, numHeads * headDim])]);
}

/**
 * The rows of `ids`: a Gather of f32 rows, or GatherBlockQuantized of 8-bit rows (Q8_0 blocks of
 * 32, Q6_K blocks of 16; exact, and about a quarter of the memory).
 */
function embed(g: GraphBuilder, w: LinearWeight, ids: string): string {
  const name = 'model.embed_tokens.weight';
  if (w.kind === 'float') return g.op('Gather', [g.initializer(TensorDataType.FLOAT, [w.rows, w.cols], w.data, name), ids], { axis: { i: 0 } });
  if (w.bits !== 8 || w.offsets) throw new Error('embedding rows must be f32 or 8-bit blocks without offsets');
  const len = blockLength(w);
  const blocks = w.cols / len;
  // value = scale·(q − 128), as MatMulNBits reads the same 8-bit blocks.
  return g.op(
    'GatherBlockQuantized',
    [
      g.initializer(TensorDataType.UINT8, [w.rows, w.cols], w.packed, `${name}.qweight`),
      ids,
      g.initializer(TensorDataType.FLOAT, [w.rows, blocks], w.scales, `${name}.scales`),
      g.initializer(TensorDataType.UINT8, [w.rows, blocks], new Uint8Array(w.rows * blocks).fill(0x80), `${name}.zero_points`),
    ],
    { gather_axis: { i: 0 }, quantize_axis: { i: 1 }, block_size: { i: len }, bits: { i: 8 } },
    MS,
  );
}

/** One bias vector for a fused projection; a part without a bias contributes zeros. */
function concatBiases(parts: [Float32Array | undefined, number][]): Float32Array {
  const out = new Float32Array(parts.reduce((n, [, rows]) => n + rows, 0));
  let at = 0;
  for (const [b, rows] of parts) {
    if (b) out.set(b, at);
    at += rows;
  }
  return out;
}

/** y = x·Wᵀ for any LinearWeight form; returns the output name. */
function* linear(g: GraphBuilder, x: string, w: LinearWeight, name: string, accuracyLevel: number): Steps<string> {
  if (w.kind === 'float') {
    const wt = new Float32Array(w.rows * w.cols); // MatMul wants [K, N]
    const per = Math.max(1, Math.floor(SLICE_BYTES / (4 * w.cols)));
    for (let r0 = 0; r0 < w.rows; r0 += per) {
      if (r0) yield;
      transposeRows(w.data, wt, w.rows, w.cols, r0, Math.min(w.rows, r0 + per));
    }
    return g.op('MatMul', [x, g.initializer(TensorDataType.FLOAT, [w.cols, w.rows], wt, `${name}.weight`)]);
  }
  if (w.bits === 8 && accuracyLevel === 0) {
    // ONNX Runtime's 8-bit MatMulNBits in f32 arithmetic is very slow (a Q8_0 model decoded 9× slower
    // than with f32 weights); the two 4-bit halves whose sum the weight is run at 4-bit speed, exactly.
    const [high, low] = yield* splitEightBitSteps(w);
    return g.op('Add', [yield* linear(g, x, high, `${name}.high`, 0), yield* linear(g, x, low, `${name}.low`, 0)]);
  }
  const len = blockLength(w);
  const blocks = w.cols / len;
  const blob = (len * w.bits) / 8;
  // Explicit zero points (even when equal to the defaults, 8 or 128): ONNX Runtime's fast kernels
  // need them present (without, 8-bit weights take a path ~100x slower).
  const zpBytes = w.bits === 4 ? Math.ceil(blocks / 2) : blocks;
  const zp = zeroPoint(w);
  const y = g.op(
    'MatMulNBits',
    [
      x,
      g.initializer(TensorDataType.UINT8, [w.rows, blocks, blob], w.packed, `${name}.qweight`),
      g.initializer(TensorDataType.FLOAT, [w.rows * blocks], w.scales, `${name}.scales`),
      g.initializer(TensorDataType.UINT8, [w.rows * zpBytes], new Uint8Array(w.rows * zpBytes).fill(w.bits === 4 ? zp | (zp << 4) : zp), `${name}.zero_points`),
    ],
    { K: { i: w.cols }, N: { i: w.rows }, bits: { i: w.bits }, block_size: { i: len }, accuracy_level: { i: accuracyLevel } },
    MS,
  );
  if (!w.offsets) return y;
  // Per-block offsets: Σ_b (Σ_{k∈b} x_k)·offset[n, b], one small MatMul over block sums.
  const blockSums = g.op('ReduceSum', [g.op('Reshape', [x, g.int64s([0, 0, blocks, len])]), g.int64s([-1])], { keepdims: { i: 0 } });
  const offT = new Float32Array(blocks * w.rows); // [blocks, N]
  transposeRows(w.offsets, offT, w.rows, blocks, 0, w.rows);
  return g.op('Add', [y, g.op('MatMul', [blockSums, g.initializer(TensorDataType.FLOAT, [blocks, w.rows], offT, `${name}.block_offsets`)])]);
}

/** RMSNorm of `x` over its last axis, times `gamma` (an initializer of that axis' length). */
function rmsNorm(g: GraphBuilder, x: string, gamma: string, eps: number): string {
  return g.op('SimplifiedLayerNormalization', [x, gamma], { axis: { i: -1 }, epsilon: { f: eps } });
}

/** cos/sin tables [maxPositions, headDim/2] for the rotary embedding. */
function* ropeTables(g: GraphBuilder, spec: LlamaSpec, name: string): Steps<[string, string]> {
  const half = spec.headDim / 2;
  const cos = new Float32Array(spec.maxPositions * half);
  const sin = new Float32Array(spec.maxPositions * half);
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    invFreq[i] = ((spec.ropePositionScale ?? 1) / Math.pow(spec.ropeTheta, (2 * i) / spec.headDim)) / (spec.ropeFreqFactors ? spec.ropeFreqFactors[i] : 1);
  }
  for (let p0 = 0; p0 < spec.maxPositions; p0 += 1024) {
    if (p0) yield;
    for (let p = p0; p < Math.min(spec.maxPositions, p0 + 1024); p++) ropeRow(cos, sin, invFreq, p);
  }
  return [
    g.initializer(TensorDataType.FLOAT, [spec.maxPositions, half], cos, `${name}.cos_cache`),
    g.initializer(TensorDataType.FLOAT, [spec.maxPositions, half], sin, `${name}.sin_cache`),
  ];
}

/** Row p of the cos/sin tables. (Hot loops stay outside generators, which V8 optimises less.) */
function ropeRow(cos: Float32Array, sin: Float32Array, invFreq: Float64Array, p: number): void {
  const half = invFreq.length;
  for (let i = 0; i < half; i++) {
    // Match the f32 arithmetic of the reference implementations: angle = f32(p · inv_freq).
    const angle = Math.fround(p * Math.fround(invFreq[i]));
    cos[p * half + i] = Math.cos(angle);
    sin[p * half + i] = Math.sin(angle);
  }
}

/** Rows r0 to r1 of the [rows, cols] matrix `src` into `dst` as columns ([cols, rows]). */
function transposeRows(src: Float32Array, dst: Float32Array, rows: number, cols: number, r0: number, r1: number): void {
  for (let r = r0; r < r1; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}
