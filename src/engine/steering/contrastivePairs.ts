/**
 * Contrastive prompt pairs for extracting a reasoning steering vector (paper §3): for each target
 * question, the same k few-shot demonstrations rendered twice with the model's chat template, as
 * separate user/assistant turns. In the positive prompt each demo answer is its reasoning steps
 * followed by " The answer is X."; in the negative one it is only " The answer is X." (with the
 * leading space, as the paper's templates have it). Both end with the target question and the
 * generation prompt, so they differ only in the demos' answers.
 */
import { KvsteerError } from '../util/errors';
import { jsonLines } from '../util/jsonLines';
import { ChatMessage, ChatTokenizer } from '../model/chatTokenizer';
import { seededRandom } from '../generation/sampler';

export interface ReasoningItem {
  id?: string;
  question: string;
  steps: string;
  answer: string;
}

/** Demonstrations per prompt when none are asked for. */
export const DEFAULT_DEMOS = 6;

export interface PairOptions {
  /** Demonstrations per prompt (paper: 5 for GSM8K, 10–12 for multiple choice). Default DEFAULT_DEMOS. */
  demos?: number;
  /** Number of pairs (cycles through the items with fresh demo draws). Default: one per item. */
  pairs?: number;
  /** Seed of the demo draws. Default 0. */
  seed?: number;
  /**
   * How demos are chosen for a target question: 'random' (seeded draws, default) or 'similar' (the
   * k items whose questions are closest to it, as the paper's best configurations do; the paper
   * embeds questions with a sentence-transformer, offline we use TF-IDF cosine). 'similar' is
   * deterministic, so it gives at most one pair per item.
   */
  selection?: DemoSelection;
  /** Optional system message; by default the template's own default system prompt applies. */
  system?: string;
}

export type DemoSelection = 'random' | 'similar';

/** `value` as a DemoSelection, or a clear error naming `what` (a CLI flag, an option). */
export function parseDemoSelection(value: unknown, what = 'demo selection'): DemoSelection {
  if (value !== 'random' && value !== 'similar') throw new KvsteerError('INVALID_ARGUMENT', `${what} must be random or similar (got ${String(value)})`);
  return value;
}

export interface ContrastivePair {
  /** Id of the target item. */
  itemId: string;
  positive: string;
  negative: string;
}

export function answerSentence(answer: string): string {
  return ` The answer is ${answer}.`;
}

/** Validates parsed JSONL rows as items, naming the first bad line. */
export function parseReasoningItems(jsonl: string, source: string): ReasoningItem[] {
  const items: ReasoningItem[] = [];
  for (const l of jsonLines(jsonl)) {
    if ('error' in l) throw new KvsteerError('DATA_INVALID', `${source}:${l.line}: ${l.error}`);
    const r = { ...l.row };
    // GSM8K as published keeps the worked solution in `answer`, ending "#### N".
    const published = r.steps === undefined && r.solution === undefined && typeof r.answer === 'string' ? gsm8kFinalAnswer(r.answer) : undefined;
    if (published !== undefined) [r.solution, r.answer] = [r.answer, published];
    if (typeof r.answer === 'number') r.answer = String(r.answer);
    // GSM8K rows carry a worked `solution` instead of `steps`: calculator notes and the final
    // "#### N" line removed, newlines joined, as the paper prepares them.
    if (r.steps === undefined && typeof r.solution === 'string') r.steps = gsm8kSteps(r.solution);
    for (const key of ['question', 'steps', 'answer']) {
      if (typeof r[key] !== 'string' || !(r[key] as string).trim()) throw new KvsteerError('DATA_INVALID', `${source}:${l.line}: "${key}" must be a non-empty string`);
    }
    items.push({ id: typeof r.id === 'string' ? r.id : `line-${l.line}`, question: r.question as string, steps: r.steps as string, answer: r.answer as string });
  }
  return items;
}

/** The final answer of a GSM8K solution, after its "#### " line (commas dropped), if it has one. */
export function gsm8kFinalAnswer(solution: string): string | undefined {
  const m = /\n?####([^\n]*)\s*$/.exec(solution);
  const answer = m?.[1].replace(/,/g, '').trim();
  return answer || undefined;
}

export function gsm8kSteps(solution: string): string {
  return solution
    .replace(/<<[^>]*>>/g, '')
    .replace(/\n?####.*$/s, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}

/**
 * Throws unless `items` (read from `source`, when given) are enough for `demos` demonstrations per
 * prompt: each pair takes its target and `demos` other items. Cheap, so callers check it before a
 * model loads.
 */
export function checkEnoughItems(items: readonly ReasoningItem[], demos: number, source?: string): void {
  if (items.length < demos + 1) {
    throw new KvsteerError('DATA_INVALID', `${source === undefined ? '' : `${source}: `}need at least ${demos + 1} items for ${demos} demonstrations per prompt (got ${items.length})`);
  }
}

export function buildContrastivePairs(items: ReasoningItem[], tokenizer: ChatTokenizer, opts: PairOptions = {}): ContrastivePair[] {
  const k = opts.demos ?? DEFAULT_DEMOS;
  const n = opts.pairs ?? items.length;
  checkEnoughItems(items, k);
  if (!Number.isInteger(n) || n < 1) throw new KvsteerError('INVALID_ARGUMENT', `the number of pairs must be a positive integer (got ${n})`);
  const selection = parseDemoSelection(opts.selection ?? 'random');
  if (selection === 'similar' && n > items.length) {
    throw new KvsteerError('INVALID_ARGUMENT', `similar demo selection gives one pair per item: at most ${items.length} pairs (asked for ${n})`);
  }
  const rand = seededRandom(opts.seed ?? 0);
  const similarity = selection === 'similar' ? questionSimilarity(items.map((it) => it.question)) : undefined;
  const pairs: ContrastivePair[] = [];
  for (let p = 0; p < n; p++) {
    const targetIndex = p % items.length;
    const target = items[targetIndex];
    const demoIndices = similarity ? nearest(similarity[targetIndex], k, targetIndex) : sampleWithout(items.length, k, targetIndex, rand);
    const demos = demoIndices.map((i) => items[i]);
    const render = (withSteps: boolean): string => {
      const messages: ChatMessage[] = opts.system ? [{ role: 'system', content: opts.system }] : [];
      for (const d of demos) {
        messages.push({ role: 'user', content: d.question });
        messages.push({ role: 'assistant', content: (withSteps ? d.steps : '') + answerSentence(d.answer) });
      }
      messages.push({ role: 'user', content: target.question });
      return tokenizer.applyChatTemplate(messages, true);
    };
    pairs.push({ itemId: target.id ?? String(targetIndex), positive: render(true), negative: render(false) });
  }
  return pairs;
}

/** The k indices with the highest similarity other than `exclude`, closest first (ties: lower index). */
function nearest(row: Float64Array, k: number, exclude: number): number[] {
  return Array.from(row.keys())
    .filter((i) => i !== exclude)
    .sort((a, b) => row[b] - row[a] || a - b)
    .slice(0, k);
}

/** Cosine similarity of TF-IDF word vectors (lower-cased words, smoothed idf), [n][n]. */
export function questionSimilarity(questions: string[]): Float64Array[] {
  const docs = questions.map((q) => {
    const tf = new Map<string, number>();
    for (const w of q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) tf.set(w, (tf.get(w) ?? 0) + 1);
    return tf;
  });
  const df = new Map<string, number>();
  for (const d of docs) for (const w of d.keys()) df.set(w, (df.get(w) ?? 0) + 1);
  const vecs = docs.map((d) => {
    const v = new Map<string, number>();
    let norm = 0;
    for (const [w, c] of d) {
      const x = c * (Math.log((1 + docs.length) / (1 + df.get(w)!)) + 1);
      v.set(w, x);
      norm += x * x;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [w, x] of v) v.set(w, x / norm);
    return v;
  });
  return vecs.map((a) =>
    Float64Array.from(vecs, (b) => {
      let dot = 0;
      for (const [w, x] of a) dot += x * (b.get(w) ?? 0);
      return dot;
    }),
  );
}

/** k distinct indices in [0, n) other than `exclude`, in random order (partial Fisher–Yates). */
function sampleWithout(n: number, k: number, exclude: number, rand: () => number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i).filter((i) => i !== exclude);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, k);
}
