/**
 * The extension's settings as one typed value, and their validation. VS Code-free: the editor
 * layer reads raw values from the configuration and passes them here, so tests can check every
 * out-of-range or mistyped value. Invalid settings give messages that name the setting.
 */
import type { Decoding } from '../engine/generation/sampler';
import type { ImportPrecision } from '../engine/gguf/importGguf';
import { MAX_COEFFICIENT, parseLayerList } from '../engine/steering/limits';
import { DEFAULT_REPEAT_LAST_N, REPEAT_PENALTY_LIMITS, RepeatPenalty } from '../engine/generation/repeatPenalty';
import { MAX_SEED, SAMPLING_DEFAULTS } from '../engine/generation/samplingDefaults';
import { SETTINGS, SETTINGS_SECTION } from '../ids';

export interface KvsteerSettings {
  model: string;
  vector: string;
  /** null: use the vector's recommended strength. */
  cV: number | null;
  cK: number | null;
  /** undefined: the paper's default (layers 1 and up). */
  layers?: number[];
  /** null: the vector's recommended offset token ("\n"; " " for the arithmetic vector). */
  offsetToken: string | null;
  maxNewTokens: number;
  decoding: Decoding;
  threads: number;
  /** Minutes the model stays loaded after the last request; negative: until the model changes. */
  keepAliveMinutes: number;
  precision: ImportPrecision;
  /** Stop an answer once it repeats itself (a word 4-gram five times). */
  stopOnRepetition: boolean;
  /** On both answers alike; penalty 1 is off. */
  repeatPenalty: RepeatPenalty;
}

export const DEFAULT_SETTINGS: KvsteerSettings = {
  model: 'HuggingFaceTB/SmolLM2-135M-Instruct',
  vector: 'smollm2-135m-reasoning',
  cV: null,
  cK: null,
  offsetToken: null,
  maxNewTokens: 256,
  decoding: { kind: 'greedy' },
  threads: 0,
  keepAliveMinutes: 5,
  precision: 'exact',
  stopOnRepetition: true,
  repeatPenalty: { penalty: 1, lastN: DEFAULT_REPEAT_LAST_N },
};

export type SettingsResult = { ok: true; settings: KvsteerSettings } | { ok: false; errors: string[] };

/** `get(key)` returns the raw configured value for a key of SETTINGS (undefined when unset). */
export function validateSettings(get: (key: string) => unknown): SettingsResult {
  const errors: string[] = [];
  const name = (k: string) => `${SETTINGS_SECTION}.${k}`;
  const string = (k: string, fallback: string, allowEmpty = false): string => {
    const v = get(k);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string' || (!allowEmpty && !v.trim())) {
      errors.push(`${name(k)} must be a non-empty string`);
      return fallback;
    }
    return v;
  };
  const number = (k: string, fallback: number, o: { min: number; max: number; integer?: boolean }): number => {
    const v = get(k);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < o.min || v > o.max || (o.integer && !Number.isInteger(v))) {
      errors.push(`${name(k)} must be ${o.integer ? 'an integer' : 'a number'} between ${o.min} and ${o.max} (is ${JSON.stringify(v)})`);
      return fallback;
    }
    return v;
  };
  const optionalStrength = (k: string): number | null => {
    const v = get(k);
    if (v === undefined || v === null) return null;
    return number(k, 0, { min: -MAX_COEFFICIENT, max: MAX_COEFFICIENT });
  };
  const layersRaw = string(SETTINGS.layers, '', true).trim();
  let layers: number[] | undefined;
  if (layersRaw) {
    const r = parseLayerList(layersRaw);
    if ('error' in r) errors.push(`${name(SETTINGS.layers)}: ${r.error}`);
    else layers = r.layers;
  }
  // Empty (the settings editor's cleared box) means unset, as null: the vector's own offset token.
  const offsetToken = string(SETTINGS.offsetToken, '', true) || null;
  const mode = get(SETTINGS.decodingMode) ?? 'greedy';
  if (mode !== 'greedy' && mode !== 'sampling') errors.push(`${name(SETTINGS.decodingMode)} must be "greedy" or "sampling"`);
  const stopOnRepetition = get(SETTINGS.stopOnRepetition) ?? DEFAULT_SETTINGS.stopOnRepetition;
  if (typeof stopOnRepetition !== 'boolean') errors.push(`${name(SETTINGS.stopOnRepetition)} must be true or false`);
  const precision = get(SETTINGS.precision) ?? 'exact';
  if (precision !== 'exact' && precision !== 'fast') errors.push(`${name(SETTINGS.precision)} must be "exact" or "fast"`);
  const settings: KvsteerSettings = {
    model: string(SETTINGS.model, DEFAULT_SETTINGS.model),
    vector: string(SETTINGS.vector, DEFAULT_SETTINGS.vector),
    cV: optionalStrength(SETTINGS.strengthValues),
    cK: optionalStrength(SETTINGS.strengthKeys),
    ...(layers ? { layers } : {}),
    offsetToken,
    maxNewTokens: number(SETTINGS.maxNewTokens, DEFAULT_SETTINGS.maxNewTokens, { min: 1, max: 4096, integer: true }),
    decoding:
      mode === 'sampling'
        ? {
            kind: 'sample',
            temperature: number(SETTINGS.temperature, SAMPLING_DEFAULTS.temperature, { min: 0, max: 5 }),
            topP: number(SETTINGS.topP, SAMPLING_DEFAULTS.topP, { min: 0, max: 1 }),
            topK: number(SETTINGS.topK, SAMPLING_DEFAULTS.topK, { min: 0, max: 100000, integer: true }),
            seed: number(SETTINGS.seed, SAMPLING_DEFAULTS.seed, { min: 0, max: MAX_SEED, integer: true }),
          }
        : { kind: 'greedy' },
    threads: number(SETTINGS.threads, 0, { min: 0, max: 256, integer: true }),
    keepAliveMinutes: number(SETTINGS.keepAlive, DEFAULT_SETTINGS.keepAliveMinutes, { min: -1, max: 24 * 60 }),
    precision: precision === 'fast' ? 'fast' : 'exact',
    stopOnRepetition: stopOnRepetition === true,
    repeatPenalty: {
      penalty: number(SETTINGS.repeatPenalty, DEFAULT_SETTINGS.repeatPenalty.penalty, { min: REPEAT_PENALTY_LIMITS.minPenalty, max: REPEAT_PENALTY_LIMITS.maxPenalty }),
      lastN: number(SETTINGS.repeatLastN, DEFAULT_SETTINGS.repeatPenalty.lastN, { min: REPEAT_PENALTY_LIMITS.minLastN, max: REPEAT_PENALTY_LIMITS.maxLastN, integer: true }),
    },
  };
  return errors.length ? { ok: false, errors } : { ok: true, settings };
}
