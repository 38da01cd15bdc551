/**
 * The request options (`modelOptions`) a caller of the language models may pass, applied to the
 * kvsteer settings the request decodes with. VS Code leaves their names to each provider; these are
 * read, in the spellings callers use:
 *   temperature          a number 0–5: 0 decodes greedily, more samples at that temperature
 *   top_p, topP          a number 0–1
 *   top_k, topK          an integer ≥ 0 (0: no top-k cut)
 *   seed                 an integer 0–4294967295
 *   max_tokens, maxTokens  an integer ≥ 1; the answer is at most kvsteer.maxNewTokens tokens (the
 *                        models' maxOutputTokens, which the input budget leaves room for)
 * A sampling key (a temperature above 0, top_p, top_k or seed) asks for sampling, as the CLI's flags
 * do; the ones not given come from the settings when they sample, else the settings' defaults.
 * Other keys are left alone: callers pass options meant for other vendors' models.
 */
import { KvsteerError } from '../engine/util/errors';
import { MAX_SEED, SAMPLING_DEFAULTS } from '../engine/generation/samplingDefaults';
import type { Decoding } from '../engine/generation/sampler';
import type { KvsteerSettings } from '../config/settingsSchema';


interface Limits {
  min: number;
  max: number;
  integer?: boolean;
}

/** The settings `settings` with the caller's options applied; an invalid value is an error naming it. */
export function settingsWithModelOptions(settings: KvsteerSettings, options: Readonly<Record<string, unknown>> | undefined): KvsteerSettings {
  if (!options) return settings;
  const temperature = read(options, ['temperature'], { min: 0, max: 5 });
  const topP = read(options, ['top_p', 'topP'], { min: 0, max: 1 });
  const topK = read(options, ['top_k', 'topK'], { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const seed = read(options, ['seed'], { min: 0, max: MAX_SEED, integer: true });
  const maxTokens = read(options, ['max_tokens', 'maxTokens'], { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true });
  let decoding: Decoding = settings.decoding;
  if (temperature === 0) decoding = { kind: 'greedy' };
  else if ([temperature, topP, topK, seed].some((v) => v !== undefined)) {
    const base = settings.decoding.kind === 'sample' ? settings.decoding : SAMPLING_DEFAULTS;
    decoding = {
      kind: 'sample',
      temperature: temperature ?? base.temperature,
      topP: topP ?? base.topP,
      topK: topK ?? base.topK,
      seed: seed ?? base.seed,
    };
  }
  const maxNewTokens = maxTokens === undefined ? settings.maxNewTokens : Math.min(maxTokens, settings.maxNewTokens);
  return { ...settings, decoding, maxNewTokens };
}

/** The value under the first of `keys` given (null counts as not given); two spellings that differ are an error. */
function read(options: Readonly<Record<string, unknown>>, keys: readonly string[], limits: Limits): number | undefined {
  let found: { key: string; value: number } | undefined;
  for (const key of keys) {
    const v = options[key];
    if (v === undefined || v === null) continue;
    const kind = limits.integer ? 'an integer' : 'a number';
    const range = limits.max === Number.MAX_SAFE_INTEGER ? `of at least ${limits.min}` : `from ${limits.min} to ${limits.max}`;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < limits.min || v > limits.max || (limits.integer && !Number.isInteger(v))) {
      const shown = typeof v === 'number' ? String(v) : JSON.stringify(v) ?? typeof v;
      throw new KvsteerError('INVALID_ARGUMENT', `modelOptions.${key} must be ${kind} ${range} (is ${shown})`);
    }
    if (found && found.value !== v) throw new KvsteerError('INVALID_ARGUMENT', `modelOptions.${found.key} (${found.value}) and ${key} (${v}) differ; give one`);
    found ??= { key, value: v };
  }
  return found?.value;
}
