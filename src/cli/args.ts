/**
 * Typed parsing of CLI flags on top of node:util parseArgs: numbers are checked here, once, so
 * commands receive numbers, never strings (a bad value is a usage error naming the flag).
 */
import { KvsteerError } from '../engine/util/errors';
import { Decoding } from '../engine/generation/sampler';
import { MAX_SEED, SAMPLING_DEFAULTS } from '../engine/generation/samplingDefaults';
import { parseLayerList } from '../engine/steering/limits';
import { DEFAULT_REPEAT_LAST_N, REPEAT_PENALTY_LIMITS, RepeatPenalty } from '../engine/generation/repeatPenalty';

export type Flags = Record<string, string | boolean | string[] | undefined>;

/**
 * A decimal number ("5", "-0.5", ".5", "1e2"), else NaN. Number() also reads "0x10", "0b1", "0o7",
 * "Infinity" and "" (as 0): a typo there would pass for another value.
 */
export function parseDecimal(s: string): number {
  const t = s.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : NaN;
}

export function num(flags: Flags, name: string, fallback: number, opts: { integer?: boolean; min?: number; max?: number } = {}): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const v = typeof raw === 'string' ? parseDecimal(raw) : NaN;
  const bad = !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max);
  if (bad) {
    const range = opts.min !== undefined || opts.max !== undefined ? ` in [${opts.min ?? '-∞'}, ${opts.max ?? '∞'}]` : '';
    throw new KvsteerError('INVALID_ARGUMENT', `--${name} must be ${opts.integer ? 'an integer' : 'a finite number'}${range} (got ${JSON.stringify(raw)})`);
  }
  return v;
}

/** --cv or --ck when given (checked), else undefined: the vector's recommendation applies. */
function optionalStrength(flags: Flags, name: 'cv' | 'ck'): number | undefined {
  return flags[name] === undefined ? undefined : num(flags, name, 0, { min: -100, max: 100 });
}

/**
 * The steering strength the flags give (--ck, --cv, --layers), checked; what is not given is
 * undefined, for the vector's recommendation or the caller's default to fill in.
 */
export function strengthFlags(flags: Flags): { cK?: number; cV?: number; layers?: number[] } {
  return { cK: optionalStrength(flags, 'ck'), cV: optionalStrength(flags, 'cv'), layers: parseLayers(str(flags, 'layers')) };
}

export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** --layers "1-29", "3,5,7" or "1-4,10" → layer indices. */
export function parseLayers(spec: string | undefined): number[] | undefined {
  if (spec === undefined) return undefined;
  const r = parseLayerList(spec);
  if ('error' in r) throw new KvsteerError('INVALID_ARGUMENT', `--layers: ${r.error}`);
  return r.layers;
}

/** Flags that only sampling uses: giving one asks for sampling, rather than being ignored. */
const SAMPLING_FLAGS = ['temperature', 'top-p', 'top-k', 'seed'];

export function decodingFromFlags(flags: Flags): Decoding {
  if (!flags.sample && !SAMPLING_FLAGS.some((f) => flags[f] !== undefined)) return { kind: 'greedy' };
  return {
    kind: 'sample',
    temperature: num(flags, 'temperature', SAMPLING_DEFAULTS.temperature, { min: 0, max: 5 }),
    topP: num(flags, 'top-p', SAMPLING_DEFAULTS.topP, { min: 0, max: 1 }),
    topK: num(flags, 'top-k', SAMPLING_DEFAULTS.topK, { integer: true, min: 0 }),
    seed: num(flags, 'seed', SAMPLING_DEFAULTS.seed, { integer: true, min: 0, max: MAX_SEED }),
  };
}

/**
 * --repeat-penalty P [--repeat-last-n N], or undefined when not asked for (the paper's plain
 * decoding). --repeat-last-n alone is an error rather than ignored.
 */
export function repeatPenaltyFromFlags(flags: Flags): RepeatPenalty | undefined {
  const L = REPEAT_PENALTY_LIMITS;
  if (flags['repeat-penalty'] === undefined) {
    if (flags['repeat-last-n'] !== undefined) throw new KvsteerError('INVALID_ARGUMENT', '--repeat-last-n needs --repeat-penalty');
    return undefined;
  }
  return {
    penalty: num(flags, 'repeat-penalty', 1, { min: L.minPenalty, max: L.maxPenalty }),
    lastN: num(flags, 'repeat-last-n', DEFAULT_REPEAT_LAST_N, { integer: true, min: L.minLastN, max: L.maxLastN }),
  };
}

/** --offset-token with its escapes read, or undefined when not given. */
export function offsetTokenFlag(flags: Flags): string | undefined {
  const raw = str(flags, 'offset-token');
  return raw === undefined ? undefined : unescapeToken(raw);
}

/** Turns escapes typed on a command line ("\\n") into the characters they name. */
export function unescapeToken(s: string): string {
  return s.replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\s/g, ' ');
}

/**
 * How `ask` and `chat` answer, from their shared flags: the AskRequest options, and the strength
 * the user gave. Read (and checked) before the model loads, so a typo costs no load.
 */
export function answerFlags(flags: Flags): {
  options: { maxNewTokens: number; decoding: Decoding; repeatPenalty?: RepeatPenalty; offsetToken?: string; stopOnRepetition: boolean; system?: string };
  given: ReturnType<typeof strengthFlags>;
} {
  const maxNewTokens = num(flags, 'max-new-tokens', 256, { integer: true, min: 1, max: 8192 });
  const decoding = decodingFromFlags(flags);
  const repeatPenalty = repeatPenaltyFromFlags(flags);
  const given = strengthFlags(flags);
  const offsetToken = offsetTokenFlag(flags);
  return { options: { maxNewTokens, decoding, repeatPenalty, offsetToken, stopOnRepetition: flags['stop-on-repetition'] === true, system: str(flags, 'system') }, given };
}
