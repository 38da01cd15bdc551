/**
 * The benchmark tasks of the paper's Table 1 and how their data files are read: rows
 * `{id?, question, answer}` (GSM8K also `solution`, or as published: the worked solution in `answer`
 * ending "#### N"), one JSON object per line. A malformed row is
 * reported with its line number and skipped, never fatal.
 */
import * as fs from 'node:fs';
import { gsm8kFinalAnswer } from '../steering/contrastivePairs';
import { KvsteerError } from '../util/errors';
import { jsonLines } from '../util/jsonLines';
import { PaperTask, TaskKind } from './answerFilters';

export type EvalTask = 'gsm8k' | 'arc-challenge' | 'commonsense-qa' | 'piqa';

export interface TaskInfo {
  kind: TaskKind;
  /** The paper's name for the task, which selects its filters. */
  paperTask: PaperTask;
  /** Offset token appended before the cache edit: " " for arithmetic, "\n" otherwise (paper). */
  offsetToken: string;
  /** Default strength for SmolLM2 (paper: 1 on GSM8K, 6 on the multiple-choice tasks). */
  defaultCV: number;
}

export const TASKS: Record<EvalTask, TaskInfo> = {
  gsm8k: { kind: 'gsm8k', paperTask: 'gsm8k', offsetToken: ' ', defaultCV: 1 },
  'arc-challenge': { kind: 'multiple-choice', paperTask: 'arc-oai', offsetToken: '\n', defaultCV: 6 },
  'commonsense-qa': { kind: 'multiple-choice', paperTask: 'csqa-oai', offsetToken: '\n', defaultCV: 6 },
  piqa: { kind: 'multiple-choice', paperTask: 'piqa-oai', offsetToken: '\n', defaultCV: 6 },
};

export function parseTask(s: string): EvalTask {
  // Own keys only: `in` also finds "constructor" and the like on the prototype.
  if (Object.hasOwn(TASKS, s)) return s as EvalTask;
  throw new KvsteerError('INVALID_ARGUMENT', `unknown task "${s}" (tasks: ${Object.keys(TASKS).join(', ')})`);
}

export interface EvalRow {
  id: string;
  question: string;
  answer: string;
}

export interface BadRow {
  line: number;
  reason: string;
}

export function readEvalRows(file: string): { rows: EvalRow[]; bad: BadRow[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new KvsteerError('FILE_NOT_FOUND', `${file}: cannot read the data file`);
  }
  const rows: EvalRow[] = [];
  const bad: BadRow[] = [];
  const seen = new Set<string>();
  for (const l of jsonLines(text)) {
    if ('error' in l) {
      bad.push({ line: l.line, reason: l.error });
      continue;
    }
    const r = l.row;
    if (typeof r.question !== 'string' || !r.question.trim()) {
      bad.push({ line: l.line, reason: '"question" must be a non-empty string' });
      continue;
    }
    // GSM8K as published: the worked solution in `answer`, the number after its "#### ".
    const answer = typeof r.answer === 'number' ? String(r.answer) : typeof r.answer === 'string' ? gsm8kFinalAnswer(r.answer) ?? r.answer : r.answer;
    if (typeof answer !== 'string' || !answer.trim()) {
      // Hugging Face's multiple-choice rows (`choices`, `answerKey`) score nothing as they are.
      const reason = r.answer === undefined && (r.answerKey !== undefined || r.choices !== undefined)
        ? '"answer" is missing: write the choices into "question" ("A: …" lines) and the right letter as "answer" (kvsteer eval --help)'
        : '"answer" must be a non-empty string';
      bad.push({ line: l.line, reason });
      continue;
    }
    const id = typeof r.id === 'string' && r.id ? r.id : typeof r.id === 'number' && Number.isFinite(r.id) ? String(r.id) : `line-${l.line}`;
    if (seen.has(id)) {
      bad.push({ line: l.line, reason: `duplicate id ${id}` });
      continue;
    }
    seen.add(id);
    rows.push({ id, question: r.question, answer: answer.replace(/,/g, '').trim() });
  }
  return { rows, bad };
}
