/**
 * The figures an evaluation reports (docs/results is made of them), computed from hand-made rows
 * whose answers are known: accuracy as mean ± sample std over seeds, mean tokens and words, loop
 * rate, token-weighted ms/token and its ratio to the baseline.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { summarize, toHtml, toMarkdown } from '../../../src/engine/eval/summarize';
import { GenerationRow } from '../../../src/engine/eval/runEval';

function row(method: GenerationRow['method'], seed: number, id: string, correct: boolean, tokens: number, msPerToken: number, loop = false): GenerationRow {
  return {
    task: 'arc-challenge', method, variant: '', seed, id, input: '', target: 'A', response: '', filtered_response: {},
    correct: { augmented_extract: correct }, tokens, words: tokens / 2, loop, ms_per_token: msPerToken, prefill_ms: 1, stop_reason: 'eos',
    ...(method === 'cache-steering' ? { c_k: 0, c_v: 4 } : {}),
  };
}

const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-9, `${what}: ${got}, expected ${want}`);

test('the summary reports accuracy mean ± std over seeds, lengths, loop rate and token-weighted ms/token as computed by hand', () => {
  const rows = [
    // Baseline: seed 1234 gets both items right, seed 1235 one of two: 100% and 50%.
    row('baseline', 1234, 'a', true, 10, 10),
    row('baseline', 1234, 'b', true, 30, 20, true),
    row('baseline', 1235, 'a', true, 20, 30),
    row('baseline', 1235, 'b', false, 40, NaN), // an unmeasured time counts for nothing
    // Cache steering: 0% and 50%.
    row('cache-steering', 1234, 'a', false, 50, 40),
    row('cache-steering', 1234, 'b', false, 150, 40, true),
    row('cache-steering', 1235, 'a', true, 250, 40, true),
    row('cache-steering', 1235, 'b', false, 512, 40, true),
  ];
  const s = summarize(rows, { task: 'arc-challenge', model: 'tiny', decoding: 'sampling', maxNewTokens: 512 });
  const [base, steered] = s.methods;
  assert.deepEqual([base.method, steered.method, base.items, base.seeds, steered.cV], ['baseline', 'cache-steering', 2, 2, 4]);
  near(base.accuracy.augmented_extract!.mean, 0.75, 'baseline accuracy');
  near(base.accuracy.augmented_extract!.std, Math.SQRT1_2 / 2, 'baseline std (sample std of 1 and 0.5)');
  near(steered.accuracy.augmented_extract!.mean, 0.25, 'steered accuracy');
  near(base.meanTokens, 25, 'baseline mean tokens');
  near(base.meanWords, 12.5, 'baseline mean words');
  near(base.loopRate, 0.25, 'baseline loop rate');
  near(steered.loopRate, 0.75, 'steered loop rate');
  near(base.msPerToken, (10 * 10 + 20 * 30 + 30 * 20) / (10 + 30 + 20), 'baseline ms/token, weighted by tokens');
  near(s.timePerTokenRatio['cache-steering'], 40 / base.msPerToken, 'time per token against the baseline');
  assert.deepEqual(
    steered.loopsByLength.map((b) => [b.from, b.to, b.answers, b.loops]),
    [[0, 100, 1, 0], [100, 200, 1, 1], [200, 300, 1, 1], [300, 400, 0, 0], [400, 512, 1, 1]],
  );
  const md = toMarkdown(s);
  assert.match(md, /\| baseline \| 2 \| 75\.0 ± 35\.4 \| 25\.0 \| 12\.5 \| 25\.0 \| 21\.67 \|/);
  assert.match(md, /cache-steering 1\.846×/);
});

test('with no timed token (one-token answers) ms/token is unknown: a dash in the tables and the chart, and no ratio to the baseline', () => {
  // A one-token answer has no decode step to time: its ms_per_token is NaN (null once saved).
  const rows = [row('baseline', 1234, 'a', true, 1, NaN), row('cache-steering', 1234, 'a', true, 1, NaN)];
  const s = summarize(rows, { task: 'arc-challenge', model: 'tiny', decoding: 'greedy', maxNewTokens: 1 });
  assert.ok(s.methods.every((m) => Number.isNaN(m.msPerToken)), 'no ms/token was measured, so none is reported');
  assert.deepEqual(s.timePerTokenRatio, {});
  const md = toMarkdown(s);
  assert.match(md, /\| baseline \| 1 \| 100\.0 \| 1\.0 \| 0\.5 \| 0\.0 \| – \|/);
  assert.doesNotMatch(md, /NaN|0\.00 \||Time per token relative/);
  assert.doesNotMatch(toHtml([s]), /NaN/);
});
