/**
 * Writes a tiny random Llama model as a GGUF file (2 layers, hidden 64, 4 heads over 2 kv heads,
 * a byte-level BPE vocabulary of ~280 tokens with ChatML special tokens), with the same tensor
 * types a real quantized file mixes (Q4_1 blocks, a Q8_0 embedding, F32 norms). Imported through
 * the normal GGUF path, it gives fast, exact unit tests of everything above the weights. With
 * `architecture: 'qwen2'` it is a Qwen2 file instead: metadata under `qwen2.*`, Q/K/V biases, and
 * Q/K rows in Hugging Face order (llama.cpp runs Qwen2 with NeoX RoPE, so its converter does not
 * permute them). `architecture: 'qwen3'` makes a Qwen3 file: no biases, a norm on each query and
 * key head, Q/K rows as Qwen2's. `architecture: 'gemma3'` makes a Gemma 3 file: Qwen3's head norms,
 * norms after attention and feed-forward, and sliding-window attention on layer 0 (window 8, every
 * second layer global, RoPE base 10⁶ for global layers and the default 10⁴ for local ones).
 */
import { GgmlType } from '../gguf/ggmlTypes';
import { GgufWriteValue, GgufWriteTensor, quantize, writeGguf } from '../gguf/ggufWriter';
import { seededRandom } from '../generation/sampler';

export interface TinyModelOptions {
  seed?: number;
  /** Type of the block matrices (default Q4_1). */
  matrixType?: GgmlType;
  /** Number of blocks (default 2). */
  layers?: number;
  /** Type of the token embedding, also the tied output head (default Q8_0). */
  embeddingType?: GgmlType;
  /**
   * Vocabulary kind: 'bpe' (byte-level BPE with merges, as SmolLM2, Llama 3, Qwen2) or 'spm'
   * (SentencePiece pieces with scores and byte fallback, as Llama 2, TinyLlama, Mistral). Default 'bpe'.
   */
  vocabulary?: 'bpe' | 'spm';
  /** The BPE merges ("left right"), which also make the merged tokens (default: 16 common English ones). */
  merges?: string[];
  /** GGUF architecture (default 'llama'). */
  architecture?: 'llama' | 'qwen2' | 'qwen3' | 'gemma3';
  /** Dims per attention head (default hidden / heads; Qwen3 models use more, e.g. 128 with 1024 / 16). */
  headDim?: number;
  /** Hidden and feed-forward sizes (default 64 and 128; K-quants need multiples of 256). */
  size?: { hidden: number; ff: number };
  /** Overrides of metadata (tests use it to make unsupported files). */
  metadata?: Record<string, GgufWriteValue>;
}

export const TINY_SPEC = { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, ff: 128, layers: 2, context: 512 };

const CHATML_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a tiny test model.<|im_end|>\\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's byte → printable-character table, used by byte-level BPE vocabularies. */
export function byteLevelAlphabet(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i])));
  return table;
}

export function writeTinyRandomGguf(file: string, opts: TinyModelOptions = {}): void {
  const rand = seededRandom(opts.seed ?? 1234);
  const normal = () => {
    const u = Math.max(rand(), 1e-12), v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const { heads, kvHeads, context } = TINY_SPEC;
  const H = opts.size?.hidden ?? TINY_SPEC.hidden, ff = opts.size?.ff ?? TINY_SPEC.ff;
  const headDim = opts.headDim ?? H / heads;
  const layers = opts.layers ?? TINY_SPEC.layers;
  const vocab = opts.vocabulary === 'spm' ? spmVocabulary() : bpeVocabulary(opts.merges);
  const { tokens } = vocab;
  const V = tokens.length;
  const mat = (rows: number, cols: number, scale: number, type: GgmlType): GgufWriteTensor['data'] => {
    const v = new Float32Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = normal() * scale;
    return quantize(type, v);
  };
  const norm = (n: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = 1 + 0.1 * normal();
    return quantize(GgmlType.F32, v);
  };
  const bias = (n: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = 0.5 * normal();
    return quantize(GgmlType.F32, v);
  };
  const mt = opts.matrixType ?? GgmlType.Q4_1;
  const et = opts.embeddingType ?? GgmlType.Q8_0;
  const arch = opts.architecture ?? 'llama';
  // Gemma multiplies embeddings by √hidden: smaller rows keep its residual stream, and the tied
  // head's logits, at the others' scale (else every next-token distribution is one-hot).
  const embScale = arch === 'gemma3' ? 1 / Math.sqrt(H) : 1;
  const tensors: GgufWriteTensor[] = [{ name: 'token_embd.weight', dims: [H, V], type: et, data: mat(V, H, embScale, et) }];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      { name: p + 'attn_norm.weight', dims: [H], type: GgmlType.F32, data: norm(H) },
      { name: p + 'attn_q.weight', dims: [H, heads * headDim], type: mt, data: mat(heads * headDim, H, 0.3, mt) },
      { name: p + 'attn_k.weight', dims: [H, kvHeads * headDim], type: mt, data: mat(kvHeads * headDim, H, 0.3, mt) },
      { name: p + 'attn_v.weight', dims: [H, kvHeads * headDim], type: mt, data: mat(kvHeads * headDim, H, 0.3, mt) },
      { name: p + 'attn_output.weight', dims: [heads * headDim, H], type: mt, data: mat(H, heads * headDim, 0.1, mt) },
      { name: p + 'ffn_norm.weight', dims: [H], type: GgmlType.F32, data: norm(H) },
      { name: p + 'ffn_gate.weight', dims: [H, ff], type: mt, data: mat(ff, H, 0.2, mt) },
      { name: p + 'ffn_up.weight', dims: [H, ff], type: mt, data: mat(ff, H, 0.2, mt) },
      { name: p + 'ffn_down.weight', dims: [ff, H], type: mt, data: mat(H, ff, 0.1, mt) },
    );
    if (arch === 'qwen2') {
      tensors.push(
        { name: p + 'attn_q.bias', dims: [heads * headDim], type: GgmlType.F32, data: bias(heads * headDim) },
        { name: p + 'attn_k.bias', dims: [kvHeads * headDim], type: GgmlType.F32, data: bias(kvHeads * headDim) },
        { name: p + 'attn_v.bias', dims: [kvHeads * headDim], type: GgmlType.F32, data: bias(kvHeads * headDim) },
      );
    }
    if (arch === 'gemma3') {
      tensors.push(
        { name: p + 'post_attention_norm.weight', dims: [H], type: GgmlType.F32, data: norm(H) },
        { name: p + 'post_ffw_norm.weight', dims: [H], type: GgmlType.F32, data: norm(H) },
      );
    }
    if (arch === 'qwen3' || arch === 'gemma3') {
      tensors.push(
        { name: p + 'attn_q_norm.weight', dims: [headDim], type: GgmlType.F32, data: norm(headDim) },
        { name: p + 'attn_k_norm.weight', dims: [headDim], type: GgmlType.F32, data: norm(headDim) },
      );
    }
  }
  tensors.push({ name: 'output_norm.weight', dims: [H], type: GgmlType.F32, data: norm(H) });
  const metadata: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: arch },
    'general.name': { type: 'string', value: 'kvsteer-tiny-random' },
    [`${arch}.block_count`]: { type: 'u32', value: layers },
    [`${arch}.context_length`]: { type: 'u32', value: context },
    [`${arch}.embedding_length`]: { type: 'u32', value: H },
    [`${arch}.feed_forward_length`]: { type: 'u32', value: ff },
    [`${arch}.attention.head_count`]: { type: 'u32', value: heads },
    [`${arch}.attention.head_count_kv`]: { type: 'u32', value: kvHeads },
    [`${arch}.rope.freq_base`]: { type: 'f32', value: arch === 'gemma3' ? 1e6 : 10000 },
    ...(arch === 'gemma3'
      ? { 'gemma3.attention.sliding_window': { type: 'u32', value: 8 }, 'gemma3.attention.sliding_window_pattern': { type: 'u32', value: 2 } }
      : {}),
    [`${arch}.attention.layer_norm_rms_epsilon`]: { type: 'f32', value: 1e-5 },
    [`${arch}.rope.dimension_count`]: { type: 'u32', value: headDim },
    ...(headDim !== H / heads
      ? { [`${arch}.attention.key_length`]: { type: 'u32', value: headDim }, [`${arch}.attention.value_length`]: { type: 'u32', value: headDim } }
      : {}),
    'tokenizer.ggml.tokens': { type: 'string[]', value: tokens },
    'tokenizer.ggml.token_type': { type: 'i32[]', value: vocab.types },
    ...(vocab.kind === 'spm'
      ? {
          'tokenizer.ggml.model': { type: 'string', value: 'llama' },
          'tokenizer.ggml.scores': { type: 'f32[]', value: vocab.scores },
          'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
          'tokenizer.ggml.eos_token_id': { type: 'u32', value: 4 }, // <|im_end|>, the chat turn's end
        }
      : {
          'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
          'tokenizer.ggml.pre': { type: 'string', value: arch === 'llama' ? 'smollm' : 'qwen2' },
          'tokenizer.ggml.merges': { type: 'string[]', value: vocab.merges },
          'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
        }),
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.padding_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: false },
    'tokenizer.chat_template': { type: 'string', value: CHATML_TEMPLATE },
    ...opts.metadata,
  };
  writeGguf(file, metadata, tensors);
}

/** llama.cpp token types. */
const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, BYTE = 6;

/** Pads a vocabulary to a multiple of 32 rows (not needed by ggml, keeps shapes tidy). */
function pad(tokens: string[], types: number[], scores?: number[]): void {
  while (tokens.length % 32) {
    tokens.push(`<|unused${tokens.length}|>`);
    types.push(USER_DEFINED);
    scores?.push(0);
  }
}

export const TINY_BPE_MERGES = ['Ġ t', 'h e', 'Ġt he', 'i n', 'a n', 'e r', 'Ġ a', 'o n', 'r e', 'Ġ s', 'a t', 'e n', 'Ġ w', 'o u', 'i s', 'Ġ i'];

function bpeVocabulary(merges = TINY_BPE_MERGES) {
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const tokens = [...specials, ...byteLevelAlphabet(), ...merges.map((m) => m.replace(' ', ''))];
  const types: number[] = tokens.map((_, i) => (i < specials.length ? CONTROL : NORMAL));
  pad(tokens, types);
  return { kind: 'bpe' as const, tokens, types, merges };
}

/**
 * A SentencePiece-style vocabulary: <unk>, <s>, </s>, ChatML markers, the 256 byte tokens, single
 * characters (ASCII and a few accented ones; others fall back to bytes) and merged pieces whose
 * scores decide the merge order, in the Llama 2 layout.
 */
function spmVocabulary() {
  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL];
  const scores = [0, 0, 0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
    scores.push(0);
  }
  const pieces = [
    '▁t', 'he', '▁the', 'in', 'an', 'er', '▁a', 'on', 're', '▁s', 'at', 'en', '▁w', 'ou', 'is', '▁i', 'ing', '▁in', 'ea', '▁sea',
    '▁▁', '▁▁▁▁', 'es', '▁is', 'or', '▁the▁', '12', '123', '▁1', 'é',
  ];
  const chars = [...'▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?\'"()-_/+=*&%$#@[]{}<>|~`^', 'ï', 'ü'];
  pieces.forEach((p, i) => { tokens.push(p); types.push(NORMAL); scores.push(-i); });
  chars.forEach((c, i) => { tokens.push(c); types.push(NORMAL); scores.push(-1000 - i); });
  pad(tokens, types, scores);
  return { kind: 'spm' as const, tokens, types, scores };
}
