/**
 * The facts about a loaded model that the engine needs, read from a Hugging Face `config.json`
 * and `generation_config.json`: cache geometry (layers, kv heads, head dim), vocabulary size,
 * context length and end-of-sequence ids.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KvsteerError } from '../util/errors';

export interface ModelConfig {
  modelType: string;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  maxPositions: number;
  eosTokenIds: number[];
  bosTokenId?: number;
  /** The arithmetic a kvsteer GGUF import was converted for (its config.json's `kvsteer.precision`). */
  importPrecision?: string;
}

/** A JSON file that must hold an object; any other content is an error naming the file. */
export function readJsonObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new KvsteerError('MODEL_LOAD_FAILED', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KvsteerError('MODEL_LOAD_FAILED', `${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new KvsteerError('MODEL_LOAD_FAILED', `${file}: expected a JSON object, found ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}`);
  }
  return v as Record<string, unknown>;
}

const ids = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : []);

export function readModelConfig(folder: string): ModelConfig {
  const cfgFile = path.join(folder, 'config.json');
  const c = readJsonObject(cfgFile);
  const genFile = path.join(folder, 'generation_config.json');
  const gen = fs.existsSync(genFile) ? readJsonObject(genFile) : {};
  const num = (key: string, fallback?: number): number => {
    const v = c[key];
    if (typeof v === 'number') return v;
    if (fallback !== undefined) return fallback;
    throw new KvsteerError('MODEL_LOAD_FAILED', `${cfgFile}: ${key} is missing`);
  };
  // transformers.js picks the model class by it ("Unsupported model type: null" otherwise).
  if (typeof c.model_type !== 'string' || !c.model_type) throw new KvsteerError('MODEL_LOAD_FAILED', `${cfgFile}: model_type is missing (e.g. "llama", "qwen2")`);
  const hiddenSize = num('hidden_size');
  const numHeads = num('num_attention_heads');
  const eos = [...new Set([...ids(gen.eos_token_id), ...ids(c.eos_token_id)])];
  const bos = typeof c.bos_token_id === 'number' ? c.bos_token_id : undefined;
  const imported = c.kvsteer as { precision?: unknown } | null | undefined;
  return {
    modelType: c.model_type,
    numLayers: num('num_hidden_layers'),
    numHeads,
    numKvHeads: num('num_key_value_heads', numHeads),
    headDim: num('head_dim', hiddenSize / numHeads),
    hiddenSize,
    vocabSize: num('vocab_size'),
    maxPositions: num('max_position_embeddings', 2048),
    eosTokenIds: eos,
    bosTokenId: bos,
    importPrecision: typeof imported?.precision === 'string' ? imported.precision : undefined,
  };
}
