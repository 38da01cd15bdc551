/**
 * Answer-extraction filters that turn a model's free-text response into the answer the paper scored
 * (Belitsky et al. 2025, arXiv 2507.08799; reference code github.com/MaxBelitsky/cache-steering,
 * src/evaluation/filters.py, metrics.py and evaluator.py). The paper does not use lm-evaluation-harness
 * here: it has its own regex filters — `augmented_extract` and `last_letter` for multiple choice,
 * `last_digit` and `strict_match` for GSM8K — and scores a row as correct when the filtered string equals
 * the target exactly. This module reimplements those filters as pure functions, reproducing Python `re`
 * semantics (Unicode `\b` and `\s`, `.` not matching a newline) so that every value the paper recorded
 * comes out the same. It also exports the multiple-choice follow-up ("\nSo the correct choice is", up to
 * 10 greedy tokens) that the paper appends to every multiple-choice generation before filtering.
 */

/** Returned when no pattern (and no fallback) finds an answer (filters.py:14, `fallback_uncertainty_symbol`). */
export const INVALID = '[invalid]';
/**
 * Returned when the fallback decides the answer is explicitly wrong or ambiguous (filters.py:15). Note: it
 * is not a comparison with the target — for GSM8K it fires whenever the response merely contains "not",
 * "n't", "incorrect" or "wrong" as a substring (filters.py:56-57), e.g. in "another" or "nothing".
 */
export const INCORRECT = '[incorrect]';

export type TaskKind = 'multiple-choice' | 'gsm8k';
/** Task ids as the paper's code names them (src/utils/constants.py:63-69). */
export type PaperTask = 'arc-oai' | 'csqa-oai' | 'csqa' | 'piqa-oai' | 'gsm8k' | 'gsm8k-oai';
export type FilterName = 'augmented_extract' | 'last_letter' | 'last_digit' | 'strict_match';
export type FilterValues = Partial<Record<FilterName, string>>;

// ---------------------------------------------------------------------------------------------
// Generation-time constants for multiple-choice tasks.
// ---------------------------------------------------------------------------------------------

/** `ANSWER_EXTRACTION_PROMPT = "So the correct choice is"` (src/utils/constants.py:34). */
export const MC_ANSWER_PROMPT = 'So the correct choice is';

/**
 * The text appended after every multiple-choice generation: evaluator.py:154-155 tokenizes
 * `f"\n{ANSWER_EXTRACTION_PROMPT}"` with `add_special_tokens=False` and concatenates those ids to the
 * generated ids (evaluator.py:185), so it is tokenized on its own, not together with the response.
 */
export const MC_FOLLOW_UP = `\n${MC_ANSWER_PROMPT}`;

/**
 * The follow-up is then continued greedily for at most 10 new tokens (evaluator.py:192 `max_new_tokens = 10`,
 * :198-207 `do_sample=False`, same stop strings as the main generation). It is a plain `model.generate`
 * call even in cache-steering runs: the continuation is not steered. The recorded `response` is the decode
 * (special tokens kept) of everything after the prompt: stripped answer + follow-up + continuation, which is
 * why responses can end in `<|im_end|>`.
 */
export const MC_FOLLOW_UP_MAX_NEW_TOKENS = 10;

/**
 * Stop strings for every generation (evaluator.py:80), plus the tokenizer's EOS token when it is not already
 * in the list (evaluator.py:90-91).
 */
export const STOP_STRINGS: readonly string[] = ['Q:', 'Question:', '</s>', '<|im_end|>'];

/** Extra end token id stripped for meta-llama/Llama-3.2-{1B,3B}-Instruct (`<|end_of_text|>`, evaluator.py:169-173). */
export const LLAMA_32_END_OF_TEXT_ID = 128001;

/**
 * Before the follow-up is appended, trailing end tokens are dropped from the generated ids
 * (evaluator.py:166-182): any run of `eos_token_id` / `pad_token_id` (pad defaults to EOS when the tokenizer
 * has none, eval_*.py) at the end, scanning `range(-1, -n_generated, -1)`. That range stops one short, so the
 * first generated token is never removed, even if it is an end token; this copy keeps that quirk.
 * `generated` holds only the newly generated ids (including right padding from batched generation).
 */
export function stripTrailingEndTokens(generated: readonly number[], endTokenIds: Iterable<number>): number[] {
  const end = new Set(endTokenIds);
  let keep = generated.length;
  while (keep > 1 && end.has(generated[keep - 1])) keep--;
  return generated.slice(0, keep);
}

/**
 * "Force choice" rescue used in all the paper's runs (`--force_choice` defaults to true, eval_baseline.py:45;
 * evaluator.py:299-303, 335-364): rows whose `augmented_extract` is `[invalid]` are regenerated from
 * `input + response.split(MC_ANSWER_PROMPT)[0] + MC_ANSWER_PROMPT` for exactly 1 token restricted to these
 * letters (evaluator.py:83-84, first token id of each); the response becomes
 * `response.split(MC_ANSWER_PROMPT)[0] + MC_ANSWER_PROMPT` + that letter, and the filters are run again. So
 * recorded multiple-choice responses never stay `[invalid]`: in the paper's own generations
 * (`../shared/reference/paper-generations`) none does, and rows ending in a bare forced letter after the
 * prompt (342 of 1172 in its SmolLM2-360M ARC cache-steering file) score that letter.
 */
export const FORCE_CHOICE_LETTERS: readonly string[] = ['A', ' A', 'B', ' B', 'C', ' C', 'D', ' D', ' E', 'E'];
export const FORCE_CHOICE_MAX_NEW_TOKENS = 1;

// ---------------------------------------------------------------------------------------------
// Python `re` semantics on top of JavaScript RegExp.
// ---------------------------------------------------------------------------------------------

// Python's `\s` for str patterns is str.isspace(): unlike JS it includes \x1c-\x1f and \x85, and excludes \ufeff.
const PY_SPACE_BODY = String.raw`\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
// Python's `\w` for str patterns is "alphanumeric per Unicode, or _"; JS `\w`/`\b` are ASCII-only.
const PY_WORD = String.raw`[\p{L}\p{N}_]`;
const PY_BOUNDARY = `(?:(?<=${PY_WORD})(?!${PY_WORD})|(?<!${PY_WORD})(?=${PY_WORD}))`;
const JS_SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');

/**
 * Compiles a Python `re` pattern (the subset the paper uses) into an equivalent JS RegExp with the `u` flag,
 * so that indices and repetition counts are per code point as in Python. Translates `\s`, `\b`, `.` (no
 * DOTALL) and `$` (no MULTILINE: end of text or before a final newline), and drops escapes that JS's `u`
 * mode rejects (`\,`, `\;`, `\:`, `\-` outside a class).
 */
function pyRegex(source: string, flags = ''): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') {
      const next = source[++i];
      if (next === undefined) throw new Error(`dangling backslash in ${source}`);
      if (next === 's') out += inClass ? PY_SPACE_BODY : `[${PY_SPACE_BODY}]`;
      else if (next === 'b' && !inClass) out += PY_BOUNDARY;
      else if ('ntrfv'.includes(next)) out += `\\${next}`;
      else if (/[A-Za-z0-9]/.test(next)) throw new Error(`unsupported escape \\${next} in ${source}`);
      else if (JS_SYNTAX_CHARS.has(next) || (inClass && next === '-')) out += `\\${next}`;
      else out += next;
    } else if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
    } else if (ch === '[') {
      inClass = true;
      out += ch;
      // A leading ']' or '^]' would be literal in Python; the paper's patterns have none.
    } else if (ch === '.') {
      out += '[^\\n]';
    } else if (ch === '$') {
      out += '(?=\\n?$)';
    } else {
      out += ch;
    }
  }
  return new RegExp(out, `u${flags}`);
}

/** `re.findall` semantics: the list of matches, each the single group, or the tuple of groups when several. */
function findAll(re: RegExp, text: string): (string | string[])[] {
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  const out: (string | string[])[] = [];
  for (const m of text.matchAll(g)) {
    const groups = m.slice(1).map((x) => x ?? '');
    out.push(groups.length === 0 ? m[0] : groups.length === 1 ? groups[0] : groups);
  }
  return out;
}

const PY_SPACE_RUN = new RegExp(`[${PY_SPACE_BODY}]+`, 'gu');
const PY_SPACE_EDGES = new RegExp(`^[${PY_SPACE_BODY}]+|[${PY_SPACE_BODY}]+$`, 'gu');

/** Python `str.strip()` with no argument. */
function pyStrip(s: string): string {
  return s.replace(PY_SPACE_EDGES, '');
}

// ---------------------------------------------------------------------------------------------
// Prompt helpers used by the filters' choice-matching fallback (src/utils/helpers.py:214-249).
// ---------------------------------------------------------------------------------------------

const CHAT_TAG_PATTERNS: readonly RegExp[] = [
  pyRegex(String.raw`</?s>`, 'g'),
  pyRegex(String.raw`\[/?INST\]`, 'gi'),
  pyRegex(String.raw`<\|start_header_id\|>assistant<\|end_header_id\|>`, 'gi'),
  pyRegex(String.raw`<\|.*?\|>`, 'g'),
  pyRegex(String.raw`let'?s think step by step[.:]?`, 'gi'),
];

/** Removes chat-template tags and "Let's think step by step" from a prompt (helpers.py:214-227). */
export function stripChatTemplate(text: string): string {
  let t = text;
  for (const re of CHAT_TAG_PATTERNS) t = t.replace(re, '');
  return pyStrip(t);
}

const CHOICES_SECTION = pyRegex(String.raw`Choices:\s*((?:.|\n)*)`);
const CHOICE_LINE = pyRegex(String.raw`([A-E])\s*:\s*(.*?)(?:\n|$)`);
const LEADING_ARTICLE = pyRegex(String.raw`^(a|an|the)\s+`, 'i');

/**
 * Parses the "Choices:\nA: ...\nB: ..." section of a prompt into letter → phrase, trailing dots and a
 * leading article removed (helpers.py:230-249). A repeated letter keeps its first position and last text,
 * as a Python dict would.
 */
export function extractChoices(text: string): Map<string, string> {
  const section = CHOICES_SECTION.exec(text);
  const choices = new Map<string, string>();
  if (!section) return choices;
  for (const m of findAll(CHOICE_LINE, pyStrip(section[1]))) {
    const [letter, phrase] = m as string[];
    choices.set(letter, pyStrip(pyStrip(phrase).replace(/\.+$/u, '')).replace(LEADING_ARTICLE, ''));
  }
  return choices;
}

// ---------------------------------------------------------------------------------------------
// The filters.
// ---------------------------------------------------------------------------------------------

interface FilterSpec {
  readonly patterns: readonly RegExp[];
  preprocess(text: string): string;
  normalize(text: string): string;
}

// "none of the above", "A or B", "either A or B", ... after the follow-up means no single answer (filters.py:23-32).
const INCORRECT_PATTERN = pyRegex(
  String.raw`\b(` +
    String.raw`none|no correct|no answer|no option|none of the (?:above|choices|options)|` +
    String.raw`(?:options?|choices?)\s+[A-E](?:\s*(?:,|or|and)\s*[A-E])+|` +
    String.raw`[A-E](?:\s*(?:,|or|and)\s*[A-E])+|` +
    String.raw`either\s+[A-E]\s+or\s+[A-E]|` +
    String.raw`combination of` +
    String.raw`)\b`,
  'i',
);

const NEGATIONS = ['not', "n't", 'incorrect', 'wrong'];

/**
 * The shared control flow of every paper filter (filters.py:34-74): the first pattern (in list order) that
 * matches anywhere wins, taking its last match; otherwise an optional choice-text match against the question;
 * otherwise `[incorrect]` / `[invalid]`.
 */
function runFilter(spec: FilterSpec, response: string, question?: string): string {
  let text = spec.preprocess(response);
  for (const re of spec.patterns) {
    const matches = findAll(re, text);
    if (matches.length === 0) continue;
    const last = matches[matches.length - 1];
    // For alternatives in separate groups, the first group that took part in the match.
    const value = typeof last === 'string' ? last : (last.find((g) => g !== '') ?? '');
    return spec.normalize(pyStrip(value));
  }

  // Only look at what follows the last follow-up prompt, so the reasoning cannot trigger the fallbacks.
  if (text.includes(MC_ANSWER_PROMPT)) {
    const parts = text.split(MC_ANSWER_PROMPT);
    text = MC_ANSWER_PROMPT + parts[parts.length - 1];
  }

  // `if question:` — an empty string counts as absent, as in Python.
  if (question) {
    const choices = extractChoices(stripChatTemplate(question));
    const lower = text.toLowerCase();
    if (NEGATIONS.some((n) => lower.includes(n))) return INCORRECT;
    const matched = [...choices].filter(([, phrase]) => lower.includes(phrase.toLowerCase())).map(([l]) => l);
    if (matched.length === 1) return spec.normalize(matched[0]);
  }

  if (text.includes(MC_ANSWER_PROMPT) && INCORRECT_PATTERN.test(text)) return INCORRECT;
  return INVALID;
}

/** Multiple-choice preprocessing (filters.py:117-127): newlines, hyphens, parentheses and `**` become spaces. */
function preprocessMultipleChoice(text: string): string {
  return text
    .replaceAll('\n', ' ')
    .replaceAll('-', ' ')
    .replaceAll('(', '')
    .replaceAll(')', '')
    .replaceAll('**', ' ')
    .replace(PY_SPACE_RUN, ' ');
}

const identity = (t: string): string => t;

// Ordered from most to least specific: the first pattern with any match decides (filters.py:148-161).
const MULTIPLE_CHOICE_PATTERNS: readonly RegExp[] = [
  String.raw`[Tt]he correct choice is:?\s*([A-E])\b`,
  String.raw`[Tt]he correct answer is:?\s*([A-E])\b`,
  String.raw`\b[Tt]he correct answer is:?\s*(?:(?!not|n't|incorrect|wrong|and|or|combination|all of|[,;]).){0,50}?\b([A-E])\b(?![^A-E]*\b[A-E]\b)`,
  String.raw`\b[Tt]he best answer is:?\s*([A-E])(?:\b|(?=[\.\,\;\:\s]|$))`,
  String.raw`[Tt]he correct choice is option:?\s*([A-E])(?:\b|(?=[\.\,\;\:\s]|$))`,
  String.raw`\b[Tt]he final answer is:?\s*([A-E])(?:\b|(?=[\.\,\;\:\s]|$))`,
  String.raw`[Tt]he answer is:?\s*([A-E])\b`,
  String.raw`[Ff]inal answer is:?\s*([A-E])(?:\b|(?=[\.\,\;\:\s]|$))`,
  String.raw`[Tt]he best answer is option:?\s*([A-E])(?:\b|(?=[\.\,\;\:\s]|$))`,
  String.raw`[Tt]he correct choice is:?\s*(?:\n\s*)*Choice\s+([A-E])\s*:`,
  String.raw`[Aa]nswer:\s*([A-E])\b`,
  String.raw`^([A-E])\s*:`,
].map((p) => pyRegex(p));

const AUGMENTED_EXTRACT: FilterSpec = {
  patterns: MULTIPLE_CHOICE_PATTERNS,
  preprocess: preprocessMultipleChoice,
  normalize: identity,
};

/** GSM8K normalization (filters.py:86-90): drop every ",", "." and "$" — so "6.67" becomes "667". */
function normalizeNumber(text: string): string {
  return text.replaceAll(',', '').replaceAll('.', '').replaceAll('$', '');
}

const LAST_DIGIT: FilterSpec = {
  // A run of 2+ of [$0-9.,] (so "...", "$." also count and normalize to ""), else a bare integer.
  patterns: [pyRegex(String.raw`(-?[$0-9.,]{2,})|(-?[0-9]+)`)],
  preprocess: identity,
  normalize: normalizeNumber,
};

const STRICT_MATCH: FilterSpec = {
  // Case-sensitive "The answer is N" followed by any one character (the final `.` is unescaped).
  patterns: [pyRegex(String.raw`The answer is (\-?[0-9\.\,]+).`)],
  preprocess: identity,
  normalize: normalizeNumber,
};

/**
 * `augmented_extract`: the paper's main multiple-choice metric. `question` enables the choice-text fallback
 * (unique choice phrase found in the response, negation → `[incorrect]`); the paper's scorer never passes it
 * for multiple-choice tasks (metrics.py:36), so leave it out to reproduce the paper.
 */
export function augmentedExtract(response: string, question?: string): string {
  return runFilter(AUGMENTED_EXTRACT, response, question);
}

/**
 * `last_letter`: the last capital letter among `letters` anywhere in the preprocessed response, even inside
 * a word ("Because" → "B"). The paper used A–E for ARC and CSQA (filters.py:176-184) and, in the runs whose
 * outputs it reported, A–B for PIQA (every PIQA result file in the repository records only A/B/[invalid];
 * the published filters.py has dropped PIQA's last_letter).
 */
export function lastLetter(response: string, letters = 'ABCDE', question?: string): string {
  if (!/^[A-Z]+$/.test(letters)) throw new Error(`lastLetter: letters must be capital A-Z, got ${JSON.stringify(letters)}`);
  const spec: FilterSpec = { patterns: [pyRegex(`([${letters}])`)], preprocess: preprocessMultipleChoice, normalize: identity };
  return runFilter(spec, response, question);
}

/**
 * `last_digit`: the paper's main GSM8K metric — the last number-like run in the raw response with ",", "."
 * and "$" removed ("$1,234.50" → "123450", "48.67" → "4867"; a trailing "..." gives ""). The paper passes
 * the prompt as `question` for GSM8K (metrics.py:36), which makes a number-free response containing a
 * negation substring come out `[incorrect]` instead of `[invalid]`.
 */
export function lastDigit(response: string, question?: string): string {
  return runFilter(LAST_DIGIT, response, question);
}

/**
 * `strict_match`: the number after the last "The answer is " (case-sensitive, followed by at least one more
 * character), normalized like `lastDigit`. It does not look at the target: with `question` given (as the
 * paper does for GSM8K) a response without the phrase is `[incorrect]` if it contains "not", "n't",
 * "incorrect" or "wrong" anywhere (even inside "another"), else `[invalid]`.
 */
export function strictMatch(response: string, question?: string): string {
  return runFilter(STRICT_MATCH, response, question);
}

// ---------------------------------------------------------------------------------------------
// Per-task wiring, as metrics.py:9-41 does it.
// ---------------------------------------------------------------------------------------------

export function taskKindOf(task: TaskKind | PaperTask): TaskKind {
  if (task === 'gsm8k' || task === 'gsm8k-oai') return 'gsm8k';
  if (task === 'multiple-choice' || task === 'arc-oai' || task === 'csqa-oai' || task === 'csqa' || task === 'piqa-oai') {
    return 'multiple-choice';
  }
  throw new Error(`unknown task ${JSON.stringify(task)}`);
}

/** The filters the paper records for a task, in its order (filters.py:165-189; PIQA's last_letter as noted above). */
export function filtersForTask(task: TaskKind | PaperTask): readonly FilterName[] {
  return taskKindOf(task) === 'gsm8k' ? ['last_digit', 'strict_match'] : ['augmented_extract', 'last_letter'];
}

/** Letters `last_letter` looks for: A–B for PIQA (two choices), A–E otherwise. */
export function lastLetterLetters(task: TaskKind | PaperTask): string {
  return task === 'piqa-oai' ? 'AB' : 'ABCDE';
}

export interface FilterRow {
  /** The full prompt given to the model (chat template applied). */
  readonly input: string;
  /** The decoded response; for multiple choice it already includes the follow-up and its continuation. */
  readonly response: string;
  readonly target?: string;
}

/**
 * Runs every filter of the task on one row, passing the prompt as `question` only for GSM8K, exactly as
 * metrics.py:35-37 does (the multiple-choice filters therefore never use the choice-text fallback).
 */
export function applyFilters(task: TaskKind | PaperTask, row: FilterRow): FilterValues {
  const out: FilterValues = {};
  if (taskKindOf(task) === 'gsm8k') {
    out.last_digit = lastDigit(row.response, row.input);
    out.strict_match = strictMatch(row.response, row.input);
  } else {
    out.augmented_extract = augmentedExtract(row.response);
    out.last_letter = lastLetter(row.response, lastLetterLetters(task));
  }
  return out;
}

/** The paper's scoring (metrics.py:54-61): correct iff the filtered string equals the target string exactly. */
export function isCorrect(filtered: string | undefined, target: string): boolean {
  return filtered === target;
}
