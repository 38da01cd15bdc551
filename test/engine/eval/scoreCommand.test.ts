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
