/**
 * A KV steering vector as a plain value: one key and one value direction per layer
 * ([kv_heads·head_dim] each), plus metadata saying which model it fits, how it was extracted and
 * how strongly to apply it. The model fingerprint (cache geometry + how the tokenizer splits a probe
 * string) is what loading checks: a vector for another model's shape or tokenizer is refused. One
 * that fits but was extracted on another model of that shape (a base model and its fine-tune) is
 * used, with a note saying so (vectorModelNote).
 */
import * as crypto from 'node:crypto';
import { KvsteerError } from '../util/errors';
import { LoadedModel } from '../model/loadModel';
import type { DemoSelection } from './contrastivePairs';
import { Recommendation, checkRecommendation } from './recommendedStrength';

export interface ModelFingerprint {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** sha256 of the token ids of FINGERPRINT_PROBE, first 16 hex digits. */
  tokenizerDigest: string;
}

export interface ExtractionInfo {
  dataset: string;
  datasetDigest: string;
  items: number;
  pairs: number;
  demos: number;
  seed: number;
  /** How demos were chosen (absent in vectors made before this field: 'random'). */
  selection?: DemoSelection;
  /** 'chat-template' plus the system prompt policy. */
  template: string;
  position: 'last-token';
}

export interface SteeringVectorMeta {
  format: 'kvsteer-vector/1';
  name: string;
  description?: string;
  /** The model it was extracted on: LoadedModel's name, id and (a GGUF's) sha256. */
  model: { name: string; id: string; sha256?: string; fingerprint: ModelFingerprint };
  extraction: ExtractionInfo;
  recommended: Recommendation;
  kvsteerVersion: string;
  createdAt: string;
}

export interface SteeringVector {
  /** keys[l] and values[l]: [numKvHeads · headDim] */
  keys: Float32Array[];
  values: Float32Array[];
  /** Optional activation-steering (CAA) directions, [hiddenSize] per layer, from the same pairs. */
  hidden?: Float32Array[];
  meta: SteeringVectorMeta;
}

/** The most layers a vector file may claim: checked before its tensors are read, and again on the value. */
export const MAX_VECTOR_LAYERS = 4096;

/**
 * The largest |number| a vector may hold: the shipped vectors' largest is about 520. A finite but
 * absurd one (1e30) times a strength overflows float32 in the cache or the next layer's sums, and
 * every later token reads NaN.
 */
export const MAX_VECTOR_ENTRY = 1e6;

export const FINGERPRINT_PROBE = 'kvsteer fingerprint: The quick brown fox jumps over 13 lazy dogs. ¿Qué? 日本 <|im_start|>';

export function modelFingerprint(model: LoadedModel): ModelFingerprint {
  const ids = model.tokenizer.encode(FINGERPRINT_PROBE);
  return {
    numLayers: model.config.numLayers,
    numKvHeads: model.config.numKvHeads,
    headDim: model.config.headDim,
    vocabSize: model.config.vocabSize,
    tokenizerDigest: crypto.createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16),
  };
}

/** Throws a clear error unless `vector` was made for a model like `model`. */
export function checkVectorFitsModel(vector: SteeringVector, model: LoadedModel, vectorLabel = vector.meta.name): void {
  const want = vector.meta.model.fingerprint;
  const have = modelFingerprint(model);
  const geometry = (f: ModelFingerprint) => `${f.numLayers} layers, ${f.numKvHeads} kv heads × ${f.headDim}, vocabulary ${f.vocabSize}`;
  if (want.numLayers !== have.numLayers || want.numKvHeads !== have.numKvHeads || want.headDim !== have.headDim || want.vocabSize !== have.vocabSize) {
    throw new KvsteerError(
      'VECTOR_MISMATCH',
      `steering vector "${vectorLabel}" was made for ${vector.meta.model.name} (${geometry(want)}), but the loaded model ${model.name} has ${geometry(have)}`,
    );
  }
  if (vector.hidden && vector.hidden[0].length !== model.config.hiddenSize) {
    throw new KvsteerError('VECTOR_MISMATCH', `steering vector "${vectorLabel}" holds activation directions of ${vector.hidden[0].length} numbers, but the loaded model ${model.name} has hidden size ${model.config.hiddenSize}`);
  }
  if (want.tokenizerDigest !== have.tokenizerDigest) {
    throw new KvsteerError(
      'VECTOR_MISMATCH',
      `steering vector "${vectorLabel}" was made for ${vector.meta.model.name}, whose tokenizer differs from that of the loaded model ${model.name}`,
    );
  }
}

/**
 * A note for the user when `vector` was extracted on another model than `model`, else undefined.
 * It fits (checkVectorFitsModel), so it is used: the same weights at another quantisation, or a
 * deliberate transfer, are fair uses, but its directions may mean something else in another model.
 * The rule for "the same model": when both record the GGUF's SHA-256, the same SHA-256 (the same
 * file, whatever it is called and wherever it lies). Otherwise the same id (the GGUF file's name,
 * the folder's name or the hub id, as loadModel gives it), or the same model name once the owner
 * and the quantisation tag are set aside (modelFamily): a hub model records no SHA-256, and
 * `HuggingFaceTB/SmolLM2-135M-Instruct` is the model the shipped vectors' `SmolLM2-135M-Instruct.Q4_1`
 * GGUF quantises. A renamed copy of a GGUF is another model for a vector that records no SHA-256.
 */
export function vectorModelNote(vector: SteeringVector, model: Pick<LoadedModel, 'name' | 'id' | 'sha256'>, vectorLabel = vector.meta.name): string | undefined {
  const made = vector.meta.model;
  const bothHashed = made.sha256 !== undefined && model.sha256 !== undefined;
  if (bothHashed ? made.sha256 === model.sha256 : made.id === model.id || modelFamily(made.id) === modelFamily(model.id)) return undefined;
  const describe = (m: { name: string; id: string; sha256?: string }) => `${m.name}${m.id !== m.name ? ` (${m.id})` : ''}${bothHashed ? ` (GGUF sha256 ${m.sha256!.slice(0, 12)}…)` : ''}`;
  return `steering vector "${vectorLabel}" was extracted on ${describe(made)}, not on the loaded ${describe(model)}; it fits this model's shape and tokenizer and is used, but its directions may mean something else here`;
}

/** Trailing tags that name a quantisation or file format, not a model (`.Q4_1`, `-Q4_K_M`, `-f16`, `-GGUF`). */
const FORMAT_TAG = /[-._ ](?:i?q\d(?:_[a-z0-9]+)*|[bf]?f(?:16|32)|fp(?:16|32)|u?int[48]|quantized|gguf|onnx)$/;

/**
 * A model id without its owner (`HuggingFaceTB/`), file extension and quantisation tags, in lower
 * case with spaces as dashes: `SmolLM2-135M-Instruct.Q4_1`, `HuggingFaceTB/SmolLM2-135M-Instruct`
 * and an Ollama blob's `SmolLM2 135M Instruct` all give `smollm2-135m-instruct`; the base model's
 * `SmolLM2-135M` does not.
 */
export function modelFamily(id: string): string {
  let name = (id.split(/[\\/]/).pop() ?? id).toLowerCase().replace(/\.gguf$/, '').trim();
  for (let prev = ''; prev !== name; ) {
    prev = name;
    name = name.replace(FORMAT_TAG, '');
  }
  return name.replace(/\s+/g, '-');
}

/** Structural checks (shapes, finite numbers) shared by loading and creation. */
export function validateVector(v: SteeringVector, label: string): void {
  const f = v.meta.model.fingerprint;
  const whole = (x: unknown, max: number) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= max;
  if (!whole(f.numLayers, MAX_VECTOR_LAYERS) || !whole(f.numKvHeads, 4096) || !whole(f.headDim, 65536) || !whole(f.vocabSize, 1 << 24) || typeof f.tokenizerDigest !== 'string') {
    throw new KvsteerError('VECTOR_INVALID', `${label}: the model fingerprint is malformed (${JSON.stringify(f)})`);
  }
  const m = v.meta.model;
  if (typeof m.name !== 'string' || typeof m.id !== 'string' || (m.sha256 !== undefined && !(typeof m.sha256 === 'string' && /^[0-9a-f]{64}$/.test(m.sha256)))) {
    throw new KvsteerError('VECTOR_INVALID', `${label}: the model it was made for is malformed (${JSON.stringify({ name: m.name, id: m.id, sha256: m.sha256 })})`);
  }
  const size = f.numKvHeads * f.headDim;
  checkRecommendation(v.meta.recommended, label);
  if (v.meta.recommended.fromLayer >= f.numLayers) throw new KvsteerError('VECTOR_INVALID', `${label}: the recommended first layer ${v.meta.recommended.fromLayer} is not below the model's ${f.numLayers} layers`);
  if (v.keys.length !== f.numLayers || v.values.length !== f.numLayers) {
    throw new KvsteerError('VECTOR_INVALID', `${label}: holds ${v.keys.length} key and ${v.values.length} value layers, metadata says ${f.numLayers}`);
  }
  for (let l = 0; l < f.numLayers; l++) {
    for (const [kind, arr] of [['keys', v.keys[l]], ['values', v.values[l]]] as const) {
      if (arr.length !== size) throw new KvsteerError('VECTOR_INVALID', `${label}: ${kind}.${l} has ${arr.length} numbers, expected ${size}`);
      if (!arr.every(Number.isFinite)) throw new KvsteerError('VECTOR_INVALID', `${label}: ${kind}.${l} contains NaN or Infinity`);
      if (!arr.every((x) => Math.abs(x) <= MAX_VECTOR_ENTRY)) throw new KvsteerError('VECTOR_INVALID', `${label}: ${kind}.${l} holds numbers beyond ±${MAX_VECTOR_ENTRY}`);
    }
  }
  if (v.hidden) {
    if (v.hidden.length !== f.numLayers) throw new KvsteerError('VECTOR_INVALID', `${label}: holds ${v.hidden.length} hidden layers, metadata says ${f.numLayers}`);
    for (let l = 0; l < v.hidden.length; l++) {
      if (v.hidden[l].length !== v.hidden[0].length || !v.hidden[l].every((x) => Math.abs(x) <= MAX_VECTOR_ENTRY)) throw new KvsteerError('VECTOR_INVALID', `${label}: hidden.${l} is malformed`);
    }
  }
}
