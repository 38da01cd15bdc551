/**
 * The sampler on crafted logits: top-k and top-p cut the candidates they should, temperature
 * shapes the distribution as softmax(logits / T), and greedy picks the lowest id on ties.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Sampler } from '../../../src/engine/generation/sampler';

const LOGITS = Float32Array.from([1, 3, 2, 0.5, 2.5]); // order by logit: 1, 4, 2, 0, 3

function frequencies(decoding: { temperature: number; topP: number; topK: number }, draws = 20000, seed = 7): number[] {
  const s = new Sampler({ kind: 'sample', seed, ...decoding });
  const counts = new Array(LOGITS.length).fill(0);
  for (let i = 0; i < draws; i++) counts[s.next(LOGITS)]++;
  return counts.map((c) => c / draws);
}

function softmax(logits: number[], t: number): number[] {
  const e = logits.map((x) => Math.exp(x / t));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

test('greedy picks the largest logit, and the lowest id of a tie', () => {
  assert.equal(new Sampler({ kind: 'greedy' }).next(LOGITS), 1);
  assert.equal(new Sampler({ kind: 'greedy' }).next(Float32Array.from([0, 5, 1, 5])), 1);
  assert.equal(new Sampler({ kind: 'sample', temperature: 0, topP: 1, topK: 0, seed: 1 }).next(LOGITS), 1, 'temperature 0 is greedy');
});

test('top-k keeps only the k largest logits', () => {
  assert.deepEqual(frequencies({ temperature: 1, topP: 1, topK: 1 }, 500), [0, 1, 0, 0, 0]);
  const two = frequencies({ temperature: 1, topP: 1, topK: 2 });
  assert.equal(two[0] + two[2] + two[3], 0, `only tokens 1 and 4 may come: ${two}`);
  const [p1, p4] = softmax([3, 2.5], 1);
  assert.ok(Math.abs(two[1] - p1) < 0.015 && Math.abs(two[4] - p4) < 0.015, `${two} vs ${p1}, ${p4}`);
});

test('top-p keeps the smallest set of most likely tokens whose mass reaches p', () => {
  const p = softmax([...LOGITS], 1); // token 1 ≈ 0.43, token 4 ≈ 0.26, token 2 ≈ 0.16
  assert.deepEqual(frequencies({ temperature: 1, topP: 0.2, topK: 0 }, 500), [0, 1, 0, 0, 0]);
  const f = frequencies({ temperature: 1, topP: p[1] + p[4] + 0.01, topK: 0 });
  assert.equal(f[0] + f[3], 0, `tokens 0 and 3 are outside the nucleus: ${f}`);
  assert.ok(f[2] > 0, 'the third token completes the mass, so it is kept');
  const nucleus = p[1] + p[4] + p[2];
  for (const i of [1, 4, 2]) assert.ok(Math.abs(f[i] - p[i] / nucleus) < 0.015, `token ${i}: ${f[i]} vs ${p[i] / nucleus}`);
});

test('sampled frequencies follow softmax(logits / temperature)', () => {
  for (const t of [0.5, 1, 2]) {
    const f = frequencies({ temperature: t, topP: 1, topK: 0 });
    const want = softmax([...LOGITS], t);
    want.forEach((w, i) => assert.ok(Math.abs(f[i] - w) < 0.015, `T=${t}, token ${i}: ${f[i]} vs ${w}`));
  }
});

test('edge settings: top-k past the vocabulary is no cut, top-p 0 keeps only the best token, and tied logits keep id order', () => {
  assert.deepEqual(frequencies({ temperature: 1, topP: 1, topK: 1000 }, 4000), frequencies({ temperature: 1, topP: 1, topK: 0 }, 4000));
  assert.deepEqual(frequencies({ temperature: 1, topP: 0, topK: 0 }, 500), [0, 1, 0, 0, 0]);
  // Two tied best logits: within top-k the lower id comes first, so a nucleus of one keeps it.
  for (const topK of [2, 3, 0]) {
    const s = new Sampler({ kind: 'sample', temperature: 1, topP: 0.1, topK, seed: 5 });
    for (let i = 0; i < 50; i++) assert.equal(s.next(Float32Array.from([1, 5, 5, 0])), 1, `top-k ${topK}`);
  }
});
