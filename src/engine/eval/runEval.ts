/**
 * The evaluation harness: runs methods (baseline, CoT prompting, cache steering, activation
 * steering) over a benchmark the way the paper does — greedy or sampled over seeds, the
 * multiple-choice follow-up "\nSo the correct choice is", the force-choice rescue, the paper's
 * filters — and appends one JSON line per finished item to `<out>/generations.jsonl`, so a killed
 * run resumes where it stopped. Summaries are computed from that file (summarize.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KvsteerError, describeWriteError, throwIfAborted } from '../util/errors';
import { canonicalJson } from '../util/canonicalJson';
import { LoadedModel } from '../model/loadModel';
import { Decoding } from '../generation/sampler';
import { RepeatPenalty, checkRepeatPenalty, isRepeatPenaltyOff } from '../generation/repeatPenalty';
import { GenerationResult, generate, msPerToken } from '../generation/generate';
import { SteeringStrength, steerCache, checkStrength, offsetTokenId } from '../steering/applySteering';
import { SteeringVector, checkVectorFitsModel } from '../steering/steeringVector';
import { ActivationSteering, activationAdditions } from '../steering/activationSteering';
import {
  FORCE_CHOICE_LETTERS,
  FilterValues,
  INVALID,
  MC_ANSWER_PROMPT,
  MC_FOLLOW_UP,
  MC_FOLLOW_UP_MAX_NEW_TOKENS,
  STOP_STRINGS,
  applyFilters,
  filtersForTask,
  isCorrect,
} from './answerFilters';
import { EvalRow, EvalTask, TASKS } from './tasks';
import { hasLoop, wordCount } from './metrics';

export type EvalMethod = 'baseline' | 'cot-prompt' | 'cache-steering' | 'activation-steering';
export const EVAL_METHODS: EvalMethod[] = ['baseline', 'cot-prompt', 'cache-steering', 'activation-steering'];
/** The paper's CoT prompt, appended after the generation prompt (evaluation_dataset.py). */
export const COT_PREFIX = "Let's think step by step.";
/** The paper's sampling seeds: 1234 + a growing offset (eval_steering.py:139). */
export const PAPER_SEEDS = [1234, 1235, 1237, 1240, 1244];

export interface EvalConfig {
  task: EvalTask;
  rows: EvalRow[];
  methods: EvalMethod[];
  decoding: 'greedy' | 'sampling';
  /** Number of sampling seeds (ignored for greedy). */
  seeds: number;
  sampling: { temperature: number; topP: number; topK: number };
  maxNewTokens: number;
  outDir: string;
  vector?: SteeringVector;
  /** Cache-steering strength and layers (default: the task's paper default for c_v, c_k 0, layers ≥ 1). */
  strength?: SteeringStrength;
  caa?: ActivationSteering;
  /** Cache-steering strength sweep: one variant per value. */
  sweep?: { param: 'c_v' | 'c_k'; values: number[] };
  /** Cache-steering offset token (default: the task's, as the paper: " " for gsm8k, "\n" otherwise). */
  offsetToken?: string;
  /**
   * Repeat penalty on every method's answer (not on the multiple-choice follow-up, which reads the
   * answer the way the paper does). Off by default, as the paper decodes.
   */
  repeatPenalty?: RepeatPenalty;
  forceChoice?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; skipped: number; label: string; etaSeconds: number }) => void;
}

export interface GenerationRow {
  task: EvalTask;
  method: EvalMethod;
  /** "" or e.g. "c_v=4" for sweep variants. */
  variant: string;
  seed: number | null;
  id: string;
  input: string;
  target: string;
  response: string;
  filtered_response: FilterValues;
  correct: Record<string, boolean>;
  forced_choice?: string;
  tokens: number;
  words: number;
  loop: boolean;
  ms_per_token: number;
  prefill_ms: number;
  stop_reason: string;
  c_k?: number;
  c_v?: number;
  /** Settings the row was made with (absent in rows written before kvsteer recorded them). */
  model?: string;
  /** "fast" when the model is a GGUF import at fast precision (absent: exact, or not an import). */
  precision?: 'fast';
  max_new_tokens?: number;
  vector?: string;
  /** Cache-steering layers when not the default (every layer from 1). */
  layers?: number[];
  /** Cache-steering offset token when not the task's default. */
  offset_token?: string;
  /** The repeat penalty, when one was on. */
  repeat_penalty?: RepeatPenalty;
  caa?: ActivationSteering;
  sampling?: { temperature: number; topP: number; topK: number };
  /** false when a multiple-choice run kept [invalid] answers (--no-force-choice); absent: rescued. */
  force_choice?: false;
}

export const GENERATIONS_FILE = 'generations.jsonl';

export function rowKey(r: Pick<GenerationRow, 'method' | 'variant' | 'seed' | 'id'>): string {
  return `${r.method}|${r.variant}|${r.seed ?? 'greedy'}|${r.id}`;
}

/**
 * Reads finished rows; a torn last line (killed mid-write) is cut off, and a whole last row that
 * lost its newline (a write stopped by a full disk) gets one, so appends stay on lines of their own.
 * A damaged line anywhere else is no torn write: an error naming it, with nothing cut off.
 */
export function readGenerations(outDir: string): GenerationRow[] {
  const file = path.join(outDir, GENERATIONS_FILE);
  if (!fs.existsSync(file)) return [];
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KvsteerError('DATA_INVALID', `${file}: cannot read the finished answers (${code === 'EISDIR' ? 'it is a folder' : code ?? String(e)}); nothing was changed. Use another --out folder.`, { cause: e });
  }
  const lines = text.split('\n');
  let last = lines.length - 1;
  while (last >= 0 && !lines[last].trim()) last--;
  const rows: GenerationRow[] = [];
  let goodEnd = 0;
  let at = 0;
  for (let i = 0; i <= last; at += lines[i].length + 1, i++) {
    if (!lines[i].trim()) continue;
    let row: unknown;
    try {
      row = JSON.parse(lines[i]);
    } catch {
      if (i === last) break;
      throw damagedRow(file, i, 'not JSON');
    }
    if (!isRow(row)) throw damagedRow(file, i, 'not an answer row: task, method, variant, id, seed or filtered_response missing or of the wrong type');
    rows.push(row);
    goodEnd = Math.min(at + lines[i].length + 1, text.length);
  }
  try {
    if (goodEnd < text.length && text.slice(goodEnd).trim()) fs.truncateSync(file, Buffer.byteLength(text.slice(0, goodEnd)));
    else if (text.trim() && !text.endsWith('\n')) fs.appendFileSync(file, '\n');
  } catch (e) {
    throw describeWriteError(e, file, 'its finished answers are kept');
  }
  return rows;
}

function damagedRow(file: string, index: number, why: string): KvsteerError {
  return new KvsteerError('DATA_INVALID', `${file}:${index + 1}: ${why}; nothing was changed. Fix or delete that line (the answers after it are kept either way) and run again.`);
}

/** The fields a row is found and resumed by, and the extracted answers read on resume. */
function isRow(r: unknown): r is GenerationRow {
  const row = r as Partial<GenerationRow> | null;
  return typeof row === 'object' && row !== null && !Array.isArray(row) && typeof row.task === 'string' && typeof row.method === 'string' &&
    typeof row.variant === 'string' && typeof row.id === 'string' && (row.seed == null || typeof row.seed === 'number') &&
    // The extracted answers: the rescue check and the scores read them.
    typeof row.filtered_response === 'object' && row.filtered_response !== null && !Array.isArray(row.filtered_response);
}

interface Variant {
  method: EvalMethod;
  variant: string;
  strength?: SteeringStrength;
}

function baseStrength(cfg: Pick<EvalConfig, 'task' | 'strength'>): SteeringStrength {
  return cfg.strength ?? { cK: 0, cV: TASKS[cfg.task].defaultCV };
}

function variantsOf(cfg: Pick<EvalConfig, 'task' | 'methods' | 'sweep' | 'strength'>): Variant[] {
  const base = baseStrength(cfg);
  const out: Variant[] = [];
  for (const method of cfg.methods) {
    if (method === 'cache-steering' && cfg.sweep) {
      for (const v of cfg.sweep.values) {
        out.push({ method, variant: `${cfg.sweep.param}=${v}`, strength: cfg.sweep.param === 'c_v' ? { ...base, cV: v } : { ...base, cK: v } });
      }
    } else out.push({ method, variant: '', strength: method === 'cache-steering' ? base : undefined });
  }
  return out;
}

export async function runEval(model: LoadedModel, cfg: EvalConfig): Promise<GenerationRow[]> {
  const variants = variantsOf(cfg);
  const needsVector = cfg.methods.includes('cache-steering') || cfg.methods.includes('activation-steering');
  if (needsVector) {
    if (!cfg.vector) throw new KvsteerError('INVALID_ARGUMENT', 'cache and activation steering need a steering vector (--vector)');
    checkVectorFitsModel(cfg.vector, model);
  }
  for (const v of variants) if (v.strength) checkStrength(v.strength, model.config.numLayers, cfg.vector?.meta.recommended.fromLayer);
  if (cfg.methods.includes('cache-steering')) offsetTokenId(model, offsetTokenOf(cfg));
  if (cfg.repeatPenalty) checkRepeatPenalty(cfg.repeatPenalty);
  const caaAdd = cfg.methods.includes('activation-steering') ? activationAdditions(model, cfg.vector!, cfg.caa ?? defaultCaa(model)) : undefined;
  const seeds: (number | null)[] = cfg.decoding === 'greedy' ? [null] : PAPER_SEEDS.slice(0, cfg.seeds);
  if (cfg.decoding === 'sampling' && (cfg.seeds < 1 || cfg.seeds > PAPER_SEEDS.length)) {
    throw new KvsteerError('INVALID_ARGUMENT', `--seeds must be between 1 and ${PAPER_SEEDS.length}`);
  }
  try {
    fs.mkdirSync(cfg.outDir, { recursive: true });
  } catch (e) {
    throw describeWriteError(e, cfg.outDir, 'nothing was written');
  }
  const done = new Map(readGenerations(cfg.outDir).map((r) => [rowKey(r), r]));
  const out: GenerationRow[] = [];
  const total = variants.length * seeds.length * cfg.rows.length;
  let finished = 0, skipped = 0;
  const t0 = performance.now();
  const file = path.join(cfg.outDir, GENERATIONS_FILE);
  for (const v of variants) {
    for (const seed of seeds) {
      for (const row of cfg.rows) {
        const key = rowKey({ method: v.method, variant: v.variant, seed, id: row.id });
        const prior = done.get(key);
        if (prior) {
          checkSameItem(prior, cfg.task, row, file);
          checkSameSettings(prior, rowSettings(model, cfg, v, seed), file);
          out.push(prior);
          skipped++;
          finished++;
          continue;
        }
        throwIfAborted(cfg.signal, 'evaluation');
        const decoding: Decoding = seed === null ? { kind: 'greedy' } : { kind: 'sample', ...cfg.sampling, seed };
        const r = await runItem(model, cfg, v, row, decoding, seed, caaAdd);
        // An answer cut short by a cancel is not finished: saved, a resume would skip it.
        throwIfAborted(cfg.signal, 'evaluation');
        try {
          fs.appendFileSync(file, JSON.stringify(r) + '\n');
        } catch (e) {
          // A torn last line is skipped on resume, so the run loses at most this one answer.
          throw describeWriteError(e, file, `the ${finished} answers before it are kept and the run resumes from there`);
        }
        out.push(r);
        finished++;
        const computed = finished - skipped;
        const eta = computed ? ((performance.now() - t0) / 1000 / computed) * (total - finished) : NaN;
        cfg.onProgress?.({ done: finished, total, skipped, label: `${v.method}${v.variant ? ` ${v.variant}` : ''}`, etaSeconds: eta });
      }
    }
  }
  return out;
}

/** What checkResumable needs: the configuration a run is given before its model loads. */
export type EvalPlan = Pick<EvalConfig, 'task' | 'rows' | 'methods' | 'decoding' | 'seeds' | 'sampling' | 'maxNewTokens' | 'outDir' | 'sweep' | 'offsetToken' | 'repeatPenalty' | 'forceChoice'>;

/**
 * Checks without a model what runEval would refuse in `outDir`, so that a wrong folder costs no
 * model load: its answers must be readable, and those this run would resume must answer the same
 * items with the same settings, as far as the plan gives them (token budget, sampling, repeat
 * penalty, force choice, offset token). runEval checks the rest (model, vector, strength).
 */
export function checkResumable(plan: EvalPlan): void {
  const done = new Map(readGenerations(plan.outDir).map((r) => [rowKey(r), r]));
  if (!done.size) return;
  const file = path.join(plan.outDir, GENERATIONS_FILE);
  const seeds: (number | null)[] = plan.decoding === 'greedy' ? [null] : PAPER_SEEDS.slice(0, plan.seeds);
  for (const v of variantsOf(plan)) {
    for (const seed of seeds) {
      for (const row of plan.rows) {
        const prior = done.get(rowKey({ method: v.method, variant: v.variant, seed, id: row.id }));
        if (!prior) continue;
        checkSameItem(prior, plan.task, row, file);
        if (prior.model !== undefined) checkSameSettings(prior, planSettings(plan, v.method, seed), file, PLAN_SETTING_KEYS);
      }
    }
  }
}

/** CAA default for models the paper did not tune: the middle block, coefficient 3 (its SmolLM2 value). */
export function defaultCaa(model: LoadedModel): ActivationSteering {
  return { layers: [Math.floor(model.config.numLayers / 2)], coefficient: 3 };
}

async function runItem(
  model: LoadedModel,
  cfg: EvalConfig,
  v: Variant,
  row: EvalRow,
  decoding: Decoding,
  seed: number | null,
  caaAdd: Map<number, Float32Array> | undefined,
): Promise<GenerationRow> {
  const task = TASKS[cfg.task];
  const tok = model.tokenizer;
  const messages = [{ role: 'user' as const, content: row.question }];
  let input = tok.applyChatTemplate(messages, true);
  let promptIds: number[];
  let result: GenerationResult;
  let responsePrefix = '';
  const common = { maxNewTokens: cfg.maxNewTokens, decoding, repeatPenalty: cfg.repeatPenalty, stopStrings: [...STOP_STRINGS], signal: cfg.signal };
  switch (v.method) {
    case 'baseline':
      promptIds = tok.encode(input);
      result = await generate(model, { ...common, promptIds });
      break;
    case 'cot-prompt':
      input += COT_PREFIX;
      promptIds = tok.encode(input);
      result = await generate(model, { ...common, promptIds });
      break;
    case 'cache-steering': {
      const offsetToken = offsetTokenOf(cfg);
      promptIds = [...tok.encode(input), offsetTokenId(model, offsetToken)];
      responsePrefix = offsetToken; // decoding starts at the offset token, as in the paper's responses
      result = await generate(model, { ...common, promptIds, holdBack: 1, editCache: (c) => steerCache(c, cfg.vector!, v.strength!) });
      break;
    }
    case 'activation-steering':
      promptIds = tok.encode(input);
      result = await generate(model, { ...common, promptIds, holdBack: 1, activationAdd: caaAdd });
      break;
  }
  let response = responsePrefix + result.text;
  let forced: string | undefined;
  let filtered: FilterValues;
  if (task.kind === 'multiple-choice') {
    // Follow-up, unsteered and greedy: prompt + answer + "\nSo the correct choice is" → ≤ 10 tokens.
    const followIds = [...promptIds, ...result.tokenIds, ...tok.encode(MC_FOLLOW_UP)];
    const follow = await generate(model, { promptIds: followIds, maxNewTokens: MC_FOLLOW_UP_MAX_NEW_TOKENS, stopStrings: [...STOP_STRINGS], signal: cfg.signal });
    response += MC_FOLLOW_UP + follow.text;
    filtered = applyFilters(task.paperTask, { input, response, target: row.answer });
    if ((cfg.forceChoice ?? true) && filtered.augmented_extract === INVALID) {
      forced = await forceChoice(model, [...promptIds, ...result.tokenIds, ...tok.encode(MC_FOLLOW_UP)]);
      // The paper records the answer, the follow-up prompt and the forced letter in place of the
      // follow-up's own continuation, and scores that (its rescued rows end "… is B").
      response = response.split(MC_ANSWER_PROMPT)[0] + MC_ANSWER_PROMPT + forced;
      filtered = applyFilters(task.paperTask, { input, response, target: row.answer });
    }
  } else {
    filtered = applyFilters(task.paperTask, { input, response, target: row.answer });
  }
  const correct: Record<string, boolean> = {};
  for (const f of filtersForTask(task.paperTask)) correct[f] = isCorrect(filtered[f], row.answer);
  return {
    task: cfg.task,
    method: v.method,
    variant: v.variant,
    seed,
    id: row.id,
    input,
    target: row.answer,
    response,
    filtered_response: filtered,
    correct,
    ...(forced !== undefined ? { forced_choice: forced } : {}),
    tokens: result.tokenIds.length,
    words: wordCount(result.text),
    loop: hasLoop(result.text),
    ms_per_token: msPerToken(result.timings),
    prefill_ms: result.timings.prefillMs,
    stop_reason: result.stopReason,
    ...rowSettings(model, cfg, v, seed),
  };
}

/** The row fields that record settings, compared when a folder is resumed. */
const ROW_SETTING_KEYS = ['model', 'precision', 'max_new_tokens', 'vector', 'layers', 'offset_token', 'repeat_penalty', 'caa', 'sampling', 'force_choice', 'c_k', 'c_v'] as const;
type RowSettings = Pick<GenerationRow, (typeof ROW_SETTING_KEYS)[number]>;

/** The settings that follow from the plan alone, without the model or the vector. */
const PLAN_SETTING_KEYS = ['max_new_tokens', 'sampling', 'force_choice', 'repeat_penalty', 'offset_token'] as const;

function planSettings(cfg: EvalPlan, method: EvalMethod, seed: number | null): Pick<RowSettings, (typeof PLAN_SETTING_KEYS)[number]> {
  const s: Pick<RowSettings, (typeof PLAN_SETTING_KEYS)[number]> = { max_new_tokens: cfg.maxNewTokens };
  if (seed !== null) s.sampling = { ...cfg.sampling };
  if (TASKS[cfg.task].kind === 'multiple-choice' && cfg.forceChoice === false) s.force_choice = false;
  if (!isRepeatPenaltyOff(cfg.repeatPenalty)) s.repeat_penalty = { ...cfg.repeatPenalty! };
  // Cache steering alone records its offset token, and only when it is not the task's.
  if (method === 'cache-steering' && offsetTokenOf(cfg) !== TASKS[cfg.task].offsetToken) s.offset_token = offsetTokenOf(cfg);
  return s;
}

/**
 * A recorded setting as compared: absent and null are the same (the default), and the order of an
 * object's keys (an engine caller's `sampling` or `caa`) does not count.
 */
const sameSetting = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/** What a row's generation depended on besides its item, method, variant and seed. */
function rowSettings(model: LoadedModel, cfg: EvalConfig, v: Variant, seed: number | null): RowSettings {
  const s: RowSettings = { model: model.name, ...planSettings(cfg, v.method, seed) };
  // The model's name is the GGUF's at either precision, but fast arithmetic gives other answers.
  if (model.config.importPrecision === 'fast') s.precision = 'fast';
  if (v.method === 'cache-steering' || v.method === 'activation-steering') s.vector = cfg.vector?.meta.name;
  if (v.strength) {
    s.c_k = v.strength.cK;
    s.c_v = v.strength.cV;
    if (v.strength.layers) s.layers = [...v.strength.layers];
  }
  if (v.method === 'activation-steering') s.caa = cfg.caa ?? defaultCaa(model);
  return s;
}

/**
 * Whether a row of any variant was made as this run makes its own, its strength aside (model,
 * budget, penalty, sampling, vector, layers, offset token, CAA, force choice): a summary shows
 * an earlier run's variants beside this run's only when they differ in c_k / c_v alone. Rows
 * that record no settings (older files) count as made alike.
 */
export function madeLikeThisRun(row: GenerationRow, model: LoadedModel, cfg: EvalConfig): boolean {
  if (row.model === undefined) return true;
  const want = rowSettings(model, cfg, { method: row.method, variant: row.variant, strength: row.method === 'cache-steering' ? baseStrength(cfg) : undefined }, row.seed);
  return ROW_SETTING_KEYS.every((k) => k === 'c_k' || k === 'c_v' || sameSetting(recordedSetting(row, k), want[k]));
}

/**
 * A row's setting as compared. Rows written before force_choice was recorded lack it even when
 * made with --no-force-choice, so their absent field reads as the rescue (the default then as now),
 * unless the row holds an [invalid] answer the rescue never replaced: that row was made without it.
 */
function recordedSetting(row: GenerationRow, k: keyof RowSettings): unknown {
  if (k === 'force_choice' && row.force_choice === undefined && wasNotRescued(row)) return false;
  return row[k];
}

/** A rescuing run records forced_choice on every multiple-choice answer the follow-up left [invalid]. */
function wasNotRescued(row: GenerationRow): boolean {
  return TASKS[row.task].kind === 'multiple-choice' && row.forced_choice === undefined && row.filtered_response.augmented_extract === INVALID;
}

/**
 * A finished row stands for this item only if it answered the same question of the same task: rows
 * are keyed by the item's id, which for data without ids is its line number, so another data file
 * (or task) in the same folder would otherwise be taken for done and scored against old targets.
 */
function checkSameItem(prior: GenerationRow, task: EvalTask, row: EvalRow, file: string): void {
  if (prior.task !== task) throw new KvsteerError('INVALID_ARGUMENT', `${file} holds ${prior.task} results; this run is ${task}. Use another --out folder.`);
  // Trimmed: some chat templates (Llama 3, Gemma) trim the message they wrap.
  if (prior.target !== row.answer || !prior.input.includes(row.question.trim())) {
    throw new KvsteerError('INVALID_ARGUMENT', `${file} holds an answer to another question as item ${row.id}: it was made from other data. Use another --out folder for other data.`);
  }
}

/**
 * A folder resumes only the run that made it: a finished row made with other settings (another
 * strength, token budget, vector or model) is an error, never silently mixed into new results.
 * Settings a row does not record (older files) are not compared.
 */
function checkSameSettings(prior: GenerationRow, want: Partial<RowSettings>, file: string, only?: readonly (keyof RowSettings)[]): void {
  // Rows written before the settings were recorded carry only c_k/c_v.
  const keys: readonly (keyof RowSettings)[] = only ?? (prior.model !== undefined ? ROW_SETTING_KEYS : ['c_k', 'c_v']);
  for (const k of keys) {
    if (sameSetting(recordedSetting(prior, k), want[k])) continue;
    const show = (x: unknown) => (x == null ? 'the default' : JSON.stringify(x));
    throw new KvsteerError(
      'INVALID_ARGUMENT',
      `${file} holds ${prior.method}${prior.variant ? ` ${prior.variant}` : ''} results made with ${k} = ${show(recordedSetting(prior, k))}; this run asks for ${show(want[k])}. Use another --out folder, or the same settings to resume.`,
    );
  }
}

/**
 * The tokens a forced choice may take: each letter's first token (with and without a space), as the
 * paper's code takes them. A SentencePiece tokenizer prefixes encoded text with "▁", so there the
 * letter's own piece is used, and a first token that does not carry its letter is never allowed
 * (it would let the rescue answer with a bare space).
 */
function choiceTokenIds(model: LoadedModel): number[] {
  const tok = model.tokenizer;
  const ids = FORCE_CHOICE_LETTERS.map((l) => tok.singleToken(l) ?? tok.encode(l)[0]).filter((id, i) => tok.decode([id]).trim() === FORCE_CHOICE_LETTERS[i].trim());
  return [...new Set(ids)];
}

function offsetTokenOf(cfg: EvalConfig): string {
  return cfg.offsetToken ?? TASKS[cfg.task].offsetToken;
}

/** The paper's force-choice rescue: one token, restricted to the first tokens of the letters. */
async function forceChoice(model: LoadedModel, ids: number[]): Promise<string> {
  const allowed = choiceTokenIds(model);
  if (!allowed.length) return ''; // no letter is a token: nothing to rescue with
  const r = await model.backend.forward({ tokens: ids, cache: model.backend.emptyCache(), logitsToKeep: 1 });
  r.cache.free();
  let best = allowed[0];
  for (const id of allowed) if (r.logits[id] > r.logits[best]) best = id;
  return model.tokenizer.decode([best]);
}
