/**
 * Tests for the paper's answer-extraction filters. The conformance part replays every row of every file in
 * `shared/reference/paper-generations/` (the paper's own recorded responses and filter outputs) through
 * `applyFilters` and requires 100% agreement on each recorded filter; the unit part pins the behaviours that
 * make those filters surprising (Python regex semantics, "[incorrect]" from negation substrings, the
 * multiple-choice follow-up handling).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  INCORRECT,
  INVALID,
  MC_FOLLOW_UP,
  MC_FOLLOW_UP_MAX_NEW_TOKENS,
  applyFilters,
  augmentedExtract,
  extractChoices,
  filtersForTask,
  isCorrect,
  lastDigit,
  lastLetter,
  stripChatTemplate,
  stripTrailingEndTokens,
  strictMatch,
  type FilterName,
  type PaperTask,
} from '../../../src/engine/eval/answerFilters';
import { sharedFile } from '../../support/paths';

// ---------------------------------------------------------------------------------------------
// (a) Conformance with the paper's recorded filter outputs.
// ---------------------------------------------------------------------------------------------

interface ReferenceRow {
  task: PaperTask;
  model: string;
  method: string;
  id: string;
  input: string;
  target: string;
  response: string;
  filtered_response: Record<string, string>;
}

// `llm_extract` (SmolLM2 ARC baseline only) is microsoft/phi-4 asked to name the answer: a model judgement,
// not a filter, and its code is not in the published repository. Any other unknown name fails the test.
const NOT_REPRODUCIBLE = new Set(['llm_extract']);

const refDir = sharedFile('reference', 'paper-generations');
const refFiles = refDir.skip ? [] : fs.readdirSync(refDir.path).filter((f) => f.endsWith('.jsonl')).sort();

test('the paper-generations reference folder holds files to check', { skip: refDir.skip }, () => {
  assert.ok(refFiles.length > 0, `no .jsonl files in ${refDir.path}`);
});

for (const file of refFiles) {
  test(`filters agree with every recorded value in ${file}`, () => {
    const rows = fs
      .readFileSync(path.join(refDir.path, file), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ReferenceRow);
    assert.ok(rows.length > 0, `${file} is empty`);

    const perFilter = new Map<string, { matched: number; total: number }>();
    const mismatches: string[] = [];
    for (const row of rows) {
      const ours = applyFilters(row.task, row);
      const expectedNames = filtersForTask(row.task);
      for (const [name, recorded] of Object.entries(row.filtered_response)) {
        if (NOT_REPRODUCIBLE.has(name)) continue;
        assert.ok(
          (expectedNames as readonly string[]).includes(name),
          `${file} row ${row.id}: recorded filter ${name} is not one filtersForTask(${row.task}) names`,
        );
        const mine = ours[name as FilterName];
        const stat = perFilter.get(name) ?? { matched: 0, total: 0 };
        stat.total++;
        if (mine === recorded) stat.matched++;
        else mismatches.push(`${row.id} ${name}: ours ${JSON.stringify(mine)}, paper ${JSON.stringify(recorded)}`);
        perFilter.set(name, stat);
      }
    }

    const summary = [...perFilter].map(([n, s]) => `${n} ${s.matched}/${s.total}`).join(', ');
    assert.equal(
      mismatches.length,
      0,
      `${file}: ${summary}; first mismatches:\n  ${mismatches.slice(0, 8).join('\n  ')}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// (b) Behaviour.
// ---------------------------------------------------------------------------------------------

test('lastDigit keeps the last number and drops commas, dots and dollar signs', () => {
  assert.equal(lastDigit('She pays $1,234.50 in total, then 7 more, so $2,000.'), '2000');
  assert.equal(lastDigit('The total is 48.67 minutes'), '4867');
  assert.equal(lastDigit('It costs $5'), '5');
});

test('lastDigit keeps a minus sign and reads a lone digit', () => {
  assert.equal(lastDigit('change of -12 degrees'), '-12');
  assert.equal(lastDigit('x = 3'), '3');
});

test('lastDigit gives an empty string when the last match is only punctuation such as an ellipsis', () => {
  assert.equal(lastDigit('First 12 apples, then...'), '');
});

test('lastDigit without any number falls back to [invalid], or [incorrect] on a negation once the question is given', () => {
  assert.equal(lastDigit('I cannot say'), INVALID);
  assert.equal(lastDigit('I do not know', 'Q'), INCORRECT);
  assert.equal(lastDigit('I have no idea', 'Q'), INVALID);
});

test('strictMatch reads the number after "The answer is" and needs one more character after it', () => {
  assert.equal(strictMatch('So 3 + 4 = 7. The answer is 7.'), '7');
  assert.equal(strictMatch('The answer is 1,200 dollars'), '1200');
  assert.equal(strictMatch('The answer is 7'), INVALID, 'the final `.` of the pattern must consume a character');
  assert.equal(strictMatch('the answer is 7.'), INVALID, 'the phrase is case-sensitive');
  // The pattern's last `.` is any character but a newline, as in Python.
  assert.equal(strictMatch('The answer is 7\n'), INVALID);
});

test('strictMatch never compares with the target: [incorrect] means a negation substring, even inside a word', () => {
  const q = 'Natalia sold clips to 48 of her friends. How many clips did she sell?';
  assert.equal(strictMatch('She sold 72 clips.', q), INVALID);
  assert.equal(strictMatch('She sold another 24, so 72 clips.', q), INCORRECT, '"another" contains "not"');
  assert.equal(strictMatch('She sold another 24, so 72 clips.'), INVALID, 'without the question there is no negation check');
});

test('augmentedExtract reads the letter after the follow-up prompt', () => {
  assert.equal(augmentedExtract(`Photosynthesis needs light.${MC_FOLLOW_UP} B: sunlight.<|im_end|>`), 'B');
});

test('augmentedExtract takes the first pattern in the paper order that matches, and that pattern\'s last match', () => {
  // "the correct choice is" outranks "the answer is", wherever they occur.
  assert.equal(augmentedExtract('The correct choice is A. Hmm. The answer is C.'), 'A');
  assert.equal(augmentedExtract('The answer is B. Actually the answer is D.'), 'D');
});

test('augmentedExtract ignores newlines, hyphens, parentheses and bold markers', () => {
  assert.equal(augmentedExtract('Reasoning...\n**Answer: (C)**'), 'C');
  assert.equal(augmentedExtract('The correct choice is\n\n-D-'), 'D');
});

test('augmentedExtract reports several letters or "none" after the follow-up as [incorrect]', () => {
  assert.equal(augmentedExtract(`Both could work.${MC_FOLLOW_UP} either one, options A and B.`), INCORRECT);
  assert.equal(augmentedExtract(`Hard to say.${MC_FOLLOW_UP} none of the above.`), INCORRECT);
  assert.equal(augmentedExtract(`Hard to say.${MC_FOLLOW_UP} to use a spoon.`), INVALID);
});

test('augmentedExtract only looks at text after the last follow-up prompt for the fallbacks', () => {
  assert.equal(augmentedExtract(`None of these look right.${MC_FOLLOW_UP} to use a spoon.`), INVALID);
});

test('augmentedExtract uses Python word boundaries and whitespace, not JavaScript ones', () => {
  // Python's \b is Unicode-aware: "Bé" is one word, so "B" is not a whole-word answer.
  assert.equal(augmentedExtract('The answer is Bé'), INVALID);
  // Python's \s includes \x1f (unit separator); JavaScript's does not.
  assert.equal(augmentedExtract('The answer is\x1fC'), 'C');
  // JavaScript's \s includes U+FEFF; Python's does not.
  assert.equal(augmentedExtract('The answer is\ufeffC'), INVALID);
});

test('augmentedExtract with a question matches a unique choice phrase, which the paper never enabled for multiple choice', () => {
  const question = '<|im_start|>user\nWhat melts ice?\n\nChoices:\nA: The sun.\nB: a freezer<|im_end|>\n<|im_start|>assistant\n';
  const response = `It is the sun that melts ice.${MC_FOLLOW_UP} the sun.`;
  assert.equal(augmentedExtract(response, question), 'A');
  assert.equal(augmentedExtract(response), INVALID);
  assert.equal(applyFilters('arc-oai', { input: question, response }).augmented_extract, INVALID);
});

test('lastLetter picks the last capital letter of the set anywhere, even inside a word', () => {
  assert.equal(lastLetter('A is right. Because of Dogs.'), 'D');
  assert.equal(lastLetter('Answer A. Enjoy!'), 'E');
  assert.equal(lastLetter('Answer A. Enjoy!', 'AB'), 'A');
  assert.equal(lastLetter('no capitals here'), INVALID);
});

test('filtersForTask names the paper filters per task kind', () => {
  assert.deepEqual(filtersForTask('multiple-choice'), ['augmented_extract', 'last_letter']);
  assert.deepEqual(filtersForTask('gsm8k'), ['last_digit', 'strict_match']);
  assert.deepEqual(filtersForTask('piqa-oai'), ['augmented_extract', 'last_letter']);
  assert.deepEqual(filtersForTask('gsm8k-oai'), ['last_digit', 'strict_match']);
});

test('applyFilters restricts last_letter to A-B for PIQA and passes the prompt as question only for GSM8K', () => {
  const response = `Option B is better.${MC_FOLLOW_UP} B. Enjoy!`;
  assert.deepEqual(applyFilters('piqa-oai', { input: '', response }), { augmented_extract: 'B', last_letter: 'B' });
  assert.deepEqual(applyFilters('multiple-choice', { input: '', response }), { augmented_extract: 'B', last_letter: 'E' });
  assert.deepEqual(applyFilters('gsm8k', { input: 'How many?', response: 'not sure' }), {
    last_digit: INCORRECT,
    strict_match: INCORRECT,
  });
});

test('isCorrect is exact string equality with the target', () => {
  assert.equal(isCorrect('72', '72'), true);
  assert.equal(isCorrect('72.0', '72'), false);
  assert.equal(isCorrect(undefined, '72'), false);
});

test('stripTrailingEndTokens drops trailing end tokens but never the first generated token', () => {
  assert.deepEqual(stripTrailingEndTokens([5, 6, 2, 2], [2]), [5, 6]);
  assert.deepEqual(stripTrailingEndTokens([5, 2, 0, 2], [2, 0]), [5]);
  assert.deepEqual(stripTrailingEndTokens([2, 2, 2], [2]), [2]);
  assert.deepEqual(stripTrailingEndTokens([], [2]), []);
});

test('the multiple-choice follow-up is a newline plus "So the correct choice is", continued for 10 tokens', () => {
  assert.equal(MC_FOLLOW_UP, '\nSo the correct choice is');
  assert.equal(MC_FOLLOW_UP_MAX_NEW_TOKENS, 10);
});

test('extractChoices parses letter lines after "Choices:", dropping trailing dots and leading articles', () => {
  const choices = extractChoices(stripChatTemplate('<|im_start|>user\nQ?\n\nChoices:\nA: The sun.\nB: an ice cube\nC:  rain..<|im_end|>'));
  assert.deepEqual([...choices], [['A', 'sun'], ['B', 'ice cube'], ['C', 'rain']]);
});
