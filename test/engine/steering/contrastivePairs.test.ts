/**
 * Demo selection for contrastive pairs: seeded random draws, or the closest questions (the paper's
 * "distance" selection, TF-IDF cosine here).
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { buildContrastivePairs, parseReasoningItems, questionSimilarity, ReasoningItem } from '../../../src/engine/steering/contrastivePairs';
import { loadTinyModel } from '../../support/models';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());

const items: ReasoningItem[] = [
  { id: 'trains', question: 'A train travels at 60 miles per hour for 3 hours. How far does the train travel?', steps: '60 × 3 = 180.', answer: '180' },
  { id: 'plants', question: 'Why do plants need sunlight to grow?', steps: 'Plants make food by photosynthesis, which needs light.', answer: 'B' },
  { id: 'cars', question: 'A car travels at 50 miles per hour for 2 hours. How far does the car travel?', steps: '50 × 2 = 100.', answer: '100' },
  { id: 'ice', question: 'Why does ice float on water?', steps: 'Ice is less dense than liquid water.', answer: 'A' },
  { id: 'bikes', question: 'A bike travels at 12 miles per hour for 4 hours. How far does the bike travel?', steps: '12 × 4 = 48.', answer: '48' },
];

test('similar selection takes the closest questions as demos, and is the same whatever the seed', async () => {
  const m = await modelP;
  const a = buildContrastivePairs(items, m.tokenizer, { demos: 2, selection: 'similar', seed: 1 });
  const b = buildContrastivePairs(items, m.tokenizer, { demos: 2, selection: 'similar', seed: 9 });
  assert.deepEqual(a, b);
  // The train question's two nearest neighbours are the other two travel questions.
  const trains = a.find((p) => p.itemId === 'trains')!;
  assert.ok(trains.positive.includes('A car travels') && trains.positive.includes('A bike travels'));
  assert.ok(!trains.positive.includes('ice float') && !trains.positive.includes('plants need'));
  const sim = questionSimilarity(items.map((i) => i.question));
  assert.ok(Math.abs(sim[0][0] - 1) < 1e-12 && sim[0][2] > sim[0][1] && sim[0][2] > sim[0][3]);
});

test('random selection differs between seeds and never uses the target as its own demo', async () => {
  const m = await modelP;
  const draws = [0, 1, 2, 3].map((seed) => buildContrastivePairs(items, m.tokenizer, { demos: 2, seed, pairs: 10 }));
  assert.ok(new Set(draws.map((d) => JSON.stringify(d))).size > 1);
  for (const pairs of draws) {
    for (const p of pairs) {
      const target = items.find((i) => i.id === p.itemId)!;
      // The target question appears once: as the last user turn, not among the demos.
      assert.equal(p.positive.split(target.question).length - 1, 1);
    }
  }
});

test('similar selection refuses more pairs than items, and unknown selections are refused', async () => {
  const m = await modelP;
  assert.throws(() => buildContrastivePairs(items, m.tokenizer, { demos: 2, selection: 'similar', pairs: 6 }), /at most 5 pairs/);
  assert.throws(() => buildContrastivePairs(items, m.tokenizer, { demos: 2, selection: 'nearest' as never }), /random or similar/);
});

test('examples saved with a UTF-8 byte order mark (as Windows editors save them) read as without one', () => {
  const text = items.map((it) => JSON.stringify(it)).join('\r\n');
  assert.deepEqual(parseReasoningItems('\uFEFF' + text, 'bom.jsonl'), parseReasoningItems(text, 'bom.jsonl'));
});
