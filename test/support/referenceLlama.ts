/**
 * An independent, deliberately plain f32 forward pass of a Llama GGUF, written straight from the
 * llama.cpp conventions (weights as stored, with the interleaved "normal" RoPE on the permuted Q/K
 * rows; for Qwen2, Q/K/V biases and NeoX RoPE on unpermuted rows) rather than from our ONNX graph. Tests compare the graph's logits and cache with it; it
 * shares only the block decoders (dequantize.ts) with the code under test.
 */
import { dequantize } from '../../src/engine/gguf/dequantize';
import { GgufFile, metaNumber, metaString, readTensorBytes } from '../../src/engine/gguf/ggufFile';

interface RefLayer {
  attnNorm: Float32Array; wq: Float32Array; wk: Float32Array; wv: Float32Array; wo: Float32Array;
  bq?: Float32Array; bk?: Float32Array; bv?: Float32Array;
  /** Per-head RMSNorm of Q and K before RoPE (Qwen3, Gemma 3). */
  qNorm?: Float32Array; kNorm?: Float32Array;
  /** RMSNorm of the attention and feed-forward outputs (Gemma 3). */
  postAttnNorm?: Float32Array; postFfnNorm?: Float32Array;
  ffnNorm: Float32Array; gate: Float32Array; up: Float32Array; down: Float32Array;
}

export interface ReferenceOutput {
  /** [tokens, vocab] */
  logits: Float32Array;
  /**
   * Per layer: keys after RoPE and values, [kv_heads, tokens, head_dim], in the GGUF file's head
   * layout (interleaved pairs for Llama, halves for Qwen2).
   */
  keys: Float32Array[];
  values: Float32Array[];
  /** Per layer: the residual stream after the block, [tokens, hidden] (activation steering's). */
  hidden: Float32Array[];
}

/** Activation steering: `add.get(l)` is added to block l's output at positions `from` and later. */
export interface ReferenceActivationAdd {
  from: number;
  add: ReadonlyMap<number, Float32Array>;
}

export class ReferenceLlama {
  readonly H: number; readonly nHead: number; readonly nKv: number; readonly hd: number; readonly ff: number;
  readonly nLayer: number; readonly eps: number; readonly theta: number; readonly vocab: number;
  /** llama.cpp's RoPE type for the architecture: 'normal' (Llama) or 'neox' (Qwen2, Qwen3, Gemma 3). */
  readonly rope: 'normal' | 'neox';
  /**
   * Gemma 3: embeddings × √hidden, GELU (tanh form), and on layers l with l % pattern < pattern − 1
   * a window of `window` positions with RoPE base 10000.
   */
  readonly gemma?: { window: number; pattern: number };
  private readonly embd: Float32Array;
  private readonly out: Float32Array;
  private readonly outNorm: Float32Array;
  private readonly layers: RefLayer[] = [];

  constructor(f: GgufFile) {
    const arch = metaString(f, 'general.architecture');
    this.rope = arch === 'llama' ? 'normal' : 'neox';
    if (arch === 'gemma3') {
      this.gemma = { window: metaNumber(f, 'gemma3.attention.sliding_window'), pattern: metaNumber(f, 'gemma3.attention.sliding_window_pattern', 6) };
    }
    this.H = metaNumber(f, `${arch}.embedding_length`);
    this.nHead = metaNumber(f, `${arch}.attention.head_count`);
    this.nKv = metaNumber(f, `${arch}.attention.head_count_kv`);
    this.hd = metaNumber(f, `${arch}.attention.key_length`, this.H / this.nHead);
    this.ff = metaNumber(f, `${arch}.feed_forward_length`);
    this.nLayer = metaNumber(f, `${arch}.block_count`);
    this.eps = metaNumber(f, `${arch}.attention.layer_norm_rms_epsilon`);
    this.theta = metaNumber(f, `${arch}.rope.freq_base`, 10000);
    const t = (name: string) => {
      const info = f.tensors.get(name);
      if (!info) throw new Error(`missing ${name}`);
      return dequantize(info.type, readTensorBytes(f, info), info.elements);
    };
    this.embd = t('token_embd.weight');
    this.vocab = this.embd.length / this.H;
    this.out = f.tensors.has('output.weight') ? t('output.weight') : this.embd;
    this.outNorm = t('output_norm.weight');
    for (let l = 0; l < this.nLayer; l++) {
      const p = `blk.${l}.`;
      this.layers.push({
        attnNorm: t(p + 'attn_norm.weight'), wq: t(p + 'attn_q.weight'), wk: t(p + 'attn_k.weight'), wv: t(p + 'attn_v.weight'),
        wo: t(p + 'attn_output.weight'), ffnNorm: t(p + 'ffn_norm.weight'), gate: t(p + 'ffn_gate.weight'), up: t(p + 'ffn_up.weight'),
        down: t(p + 'ffn_down.weight'),
        ...(f.tensors.has(p + 'attn_q.bias') ? { bq: t(p + 'attn_q.bias'), bk: t(p + 'attn_k.bias'), bv: t(p + 'attn_v.bias') } : {}),
        ...(f.tensors.has(p + 'attn_q_norm.weight') ? { qNorm: t(p + 'attn_q_norm.weight'), kNorm: t(p + 'attn_k_norm.weight') } : {}),
        ...(f.tensors.has(p + 'post_attention_norm.weight') ? { postAttnNorm: t(p + 'post_attention_norm.weight'), postFfnNorm: t(p + 'post_ffw_norm.weight') } : {}),
      });
    }
  }

  forward(tokens: number[], steer?: ReferenceActivationAdd): ReferenceOutput {
    const { H, nHead, nKv, hd, nLayer } = this;
    const T = tokens.length;
    let x = new Float32Array(T * H);
    tokens.forEach((tok, i) => x.set(this.embd.subarray(tok * H, (tok + 1) * H), i * H));
    if (this.gemma) for (let i = 0; i < x.length; i++) x[i] *= Math.sqrt(H);
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    const hidden: Float32Array[] = [];
    for (let l = 0; l < nLayer; l++) {
      const L = this.layers[l];
      const h = rmsNorm(x, L.attnNorm, T, H, this.eps);
      let q = matmul(h, L.wq, T, H, nHead * hd);
      let k = matmul(h, L.wk, T, H, nKv * hd);
      const v = matmul(h, L.wv, T, H, nKv * hd);
      if (L.bq && L.bk && L.bv) {
        addRows(q, L.bq);
        addRows(k, L.bk);
        addRows(v, L.bv);
      }
      if (L.qNorm && L.kNorm) {
        // Each head's row of hd values is one norm row.
        q = rmsNorm(q, L.qNorm, T * nHead, hd, this.eps);
        k = rmsNorm(k, L.kNorm, T * nKv, hd, this.eps);
      }
      const rope = this.rope === 'neox' ? ropeNeox : ropeNormal;
      const local = this.gemma !== undefined && l % this.gemma.pattern < this.gemma.pattern - 1;
      const theta = local ? 10000 : this.theta;
      for (let i = 0; i < T; i++) {
        rope(q.subarray(i * nHead * hd, (i + 1) * nHead * hd), nHead, hd, i, theta);
        rope(k.subarray(i * nKv * hd, (i + 1) * nKv * hd), nKv, hd, i, theta);
      }
      // The first key position query i may see: all of them, or the last `window`.
      const first = (i: number) => (local ? Math.max(0, i - this.gemma!.window + 1) : 0);
      const kc = new Float32Array(nKv * T * hd), vc = new Float32Array(nKv * T * hd);
      for (let i = 0; i < T; i++) for (let g = 0; g < nKv; g++) {
        kc.set(k.subarray((i * nKv + g) * hd, (i * nKv + g + 1) * hd), (g * T + i) * hd);
        vc.set(v.subarray((i * nKv + g) * hd, (i * nKv + g + 1) * hd), (g * T + i) * hd);
      }
      keys.push(kc);
      values.push(vc);
      const attn = new Float32Array(T * nHead * hd);
      const scale = 1 / Math.sqrt(hd);
      for (let i = 0; i < T; i++) for (let hh = 0; hh < nHead; hh++) {
        const g = Math.floor(hh / (nHead / nKv));
        const scores = new Float64Array(i + 1);
        let mx = -Infinity;
        for (let j = first(i); j <= i; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[(i * nHead + hh) * hd + d] * kc[(g * T + j) * hd + d];
          scores[j] = s * scale;
          mx = Math.max(mx, scores[j]);
        }
        let sum = 0;
        for (let j = first(i); j <= i; j++) { scores[j] = Math.exp(scores[j] - mx); sum += scores[j]; }
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = first(i); j <= i; j++) acc += scores[j] * vc[(g * T + j) * hd + d];
          attn[(i * nHead + hh) * hd + d] = acc / sum;
        }
      }
      let o = matmul(attn, L.wo, T, nHead * hd, H);
      if (L.postAttnNorm) o = rmsNorm(o, L.postAttnNorm, T, H, this.eps);
      for (let i = 0; i < x.length; i++) x[i] += o[i];
      const h2 = rmsNorm(x, L.ffnNorm, T, H, this.eps);
      const gate = matmul(h2, L.gate, T, H, this.ff);
      const up = matmul(h2, L.up, T, H, this.ff);
      const act = this.gemma ? geluTanh : (v: number) => v / (1 + Math.exp(-v));
      for (let i = 0; i < gate.length; i++) gate[i] = act(gate[i]) * up[i];
      let down = matmul(gate, L.down, T, this.ff, H);
      if (L.postFfnNorm) down = rmsNorm(down, L.postFfnNorm, T, H, this.eps);
      const nx = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) nx[i] = x[i] + down[i];
      const add = steer?.add.get(l);
      if (add) for (let i = steer!.from; i < T; i++) for (let j = 0; j < H; j++) nx[i * H + j] += add[j];
      hidden.push(nx.slice()); // a copy: the next block adds its attention output to x in place
      x = nx;
    }
    const fin = rmsNorm(x, this.outNorm, T, H, this.eps);
    return { logits: matmul(fin, this.out, T, H, this.vocab), keys, values, hidden };
  }
}

function rmsNorm(x: Float32Array, w: Float32Array, T: number, H: number, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < T; i++) {
    let ss = 0;
    for (let j = 0; j < H; j++) ss += x[i * H + j] * x[i * H + j];
    const r = 1 / Math.sqrt(ss / H + eps);
    for (let j = 0; j < H; j++) out[i * H + j] = x[i * H + j] * r * w[j];
  }
  return out;
}

/** y[T, N] = x[T, K] · Wᵀ with W stored ggml-style as N rows of K. */
function matmul(x: Float32Array, w: Float32Array, T: number, K: number, N: number): Float32Array {
  const y = new Float32Array(T * N);
  for (let i = 0; i < T; i++) {
    const xi = x.subarray(i * K, (i + 1) * K);
    for (let n = 0; n < N; n++) {
      let acc = 0;
      const o = n * K;
      for (let k = 0; k < K; k++) acc += xi[k] * w[o + k];
      y[i * N + n] = acc;
    }
  }
  return y;
}

/** llama.cpp "normal" RoPE: rotates adjacent pairs (2i, 2i+1) of each head. */
function ropeNormal(v: Float32Array, heads: number, hd: number, pos: number, theta: number): void {
  for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) {
    const ang = pos * Math.pow(theta, (-2 * i) / hd);
    const c = Math.cos(ang), s = Math.sin(ang);
    const a = v[h * hd + 2 * i], b = v[h * hd + 2 * i + 1];
    v[h * hd + 2 * i] = a * c - b * s;
    v[h * hd + 2 * i + 1] = a * s + b * c;
  }
}

/** llama.cpp "NeoX" RoPE: rotates pairs (i, i + hd/2) of each head. */
function ropeNeox(v: Float32Array, heads: number, hd: number, pos: number, theta: number): void {
  const half = hd / 2;
  for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) {
    const ang = pos * Math.pow(theta, (-2 * i) / hd);
    const c = Math.cos(ang), s = Math.sin(ang);
    const a = v[h * hd + i], b = v[h * hd + i + half];
    v[h * hd + i] = a * c - b * s;
    v[h * hd + i + half] = a * s + b * c;
  }
}

/** GELU in its tanh form (gelu_pytorch_tanh). */
function geluTanh(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
}

/** Adds a bias of length N to every row of y [T, N]. */
function addRows(y: Float32Array, bias: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] += bias[i % bias.length];
}
