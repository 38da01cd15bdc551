/**
 * `kvsteer eval score` re-scores saved rows with the paper's filters: on rows from the paper's own
 * generations, the filtered_response it writes equals the recorded one.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, sharedFile } from '../../support/paths';

const cases = [
  { task: 'arc-challenge', file: 'SmolLM2-360M-Instruct.arc-oai.cache-steering.jsonl', filters: ['augmented_extract', 'last_letter'] },
  { task: 'gsm8k', file: 'Qwen2-0.5B-Instruct.gsm8k.activation-steering.jsonl', filters: ['last_digit', 'strict_match'] },
];

for (const c of cases) {
  const ref = sharedFile('reference', 'paper-generations', c.file);
  test(`kvsteer eval score reproduces the recorded filters on ${c.file}`, { skip: ref.skip }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-score-'));
    const lines = fs.readFileSync(ref.path, 'utf8').split('\n').filter(Boolean).slice(0, 200);
    const input = path.join(dir, 'in.jsonl');
    // Saved rows as a user would have them: input, response, target (recorded filters removed).
    fs.writeFileSync(input, lines.map((l) => { const r = JSON.parse(l); return JSON.stringify({ id: r.id, input: r.input, response: r.response, target: r.target }); }).join('\n') + '\nnot json\n');
    const out = path.join(dir, 'scored.jsonl');
    const res = spawnSync(process.execPath, [path.join(repoRoot, 'out', 'src', 'cli', 'main.js'), 'eval', 'score', '--task', c.task, '--in', input, '--out', out], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stderr, /in\.jsonl:201: skipped \(not valid JSON\)/);
    const scored = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(scored.length, 200);
    scored.forEach((r, i) => {
      const want = JSON.parse(lines[i]).filtered_response;
      for (const f of c.filters) assert.equal(r.filtered_response[f], want[f], `row ${i} (${r.id}) ${f}`);
    });
  });
}

test("kvsteer eval score re-scores a kvsteer row's correct flags with its new filtered answers, never leaving the old ones", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-score-'));
  const input = path.join(dir, 'generations.jsonl');
  // A row saved by `kvsteer eval`, its answer and correctness from filters that missed the letter.
  const row = { task: 'arc-challenge', method: 'baseline', id: 'q1', input: 'Which is a metal?\nA: wood\nB: iron', target: 'B', response: 'Iron.\nSo the correct choice is B', filtered_response: { augmented_extract: '[invalid]', last_letter: '[invalid]' }, correct: { augmented_extract: false, last_letter: false } };
  fs.writeFileSync(input, JSON.stringify(row) + '\n');
  const out = path.join(dir, 'scored.jsonl');
  const res = spawnSync(process.execPath, [path.join(repoRoot, 'out', 'src', 'cli', 'main.js'), 'eval', 'score', '--task', 'arc-challenge', '--in', input, '--out', out], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const [scored] = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(scored.filtered_response, { augmented_extract: 'B', last_letter: 'B' });
  assert.deepEqual(scored.correct, { augmented_extract: true, last_letter: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('kvsteer eval score keeps the first row of a file saved with a byte order mark (as Windows editors save UTF-8)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-score-'));
  try {
    const input = path.join(dir, 'rows.jsonl');
    fs.writeFileSync(input, '\uFEFF' + JSON.stringify({ input: 'Which is a metal?\nA: wood\nB: iron', response: 'So the correct choice is B', target: 'B' }) + '\n');
    const out = path.join(dir, 'scored.jsonl');
    const res = spawnSync(process.execPath, [path.join(repoRoot, 'out', 'src', 'cli', 'main.js'), 'eval', 'score', '--task', 'arc-challenge', '--in', input, '--out', out], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.doesNotMatch(res.stderr, /skipped/);
    const [scored] = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(scored.filtered_response.augmented_extract, 'B');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
