/**
 * Exactness of cache steering on the tiny model: strength 0 changes nothing (greedy and seeded
 * sampling), the edit touches only the last cached position of the selected layers and by exactly
 * c·S, strength scales linearly, and extraction equals an independent reference loop.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { generate } from '../../../src/engine/generation/generate';
import { generateSteered, steerCache, steeredPromptIds, warmUpCacheEdit } from '../../../src/engine/steering/applySteering';
import { buildContrastivePairs } from '../../../src/engine/steering/contrastivePairs';
import { extractDirections } from '../../../src/engine/steering/extract';
import { ReferenceLlama } from '../../support/referenceLlama';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { ask } from '../../../src/engine/ask';
import { PrefillCache } from '../../../src/engine/generation/prefillCache';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());

const items = [
  { id: 'a', question: 'What is 2 + 3?', steps: 'Two plus three is five.', answer: '5' },
  { id: 'b', question: 'Is ice cold?', steps: 'Ice is frozen water, which is cold.', answer: 'yes' },
  { id: 'c', question: 'How many legs has a cat?', steps: 'A cat walks on four legs.', answer: '4' },
  { id: 'd', question: 'What color is the sky?', steps: 'Sunlight scatters, so the sky looks blue.', answer: 'blue' },
];

const messages = [{ role: 'user' as const, content: 'tell me about the sea' }];

for (const decoding of [{ kind: 'greedy' as const }, { kind: 'sample' as const, temperature: 1, topP: 0.9, topK: 40, seed: 11 }]) {
  test(`strength 0 reproduces the unedited generation token for token (${decoding.kind})`, async () => {
    const m = await modelP;
    const { ids } = steeredPromptIds(m, messages, '\n');
    const plain = await generate(m, { promptIds: ids, maxNewTokens: 24, decoding });
    const steered = await generateSteered(m, { messages, vector: fakeVector(m), strength: { cK: 0, cV: 0 }, maxNewTokens: 24, decoding });
    assert.deepEqual(steered.tokenIds, plain.tokenIds);
    assert.equal(steered.text, plain.text);
  });
}

test("a special token (end of turn, end of text) is refused as the offset token: decoding would start from the answer's end", async () => {
  const m = await loadTinyModel();
  const messages = [{ role: 'user' as const, content: 'the sea' }];
  const specials = ['<|im_end|>', '<|im_start|>', '<|endoftext|>'].filter((t) => m.tokenizer.singleToken(t) !== undefined);
  assert.ok(specials.length >= 2, `the tiny model's special tokens: ${specials}`);
  for (const t of specials) assert.throws(() => steeredPromptIds(m, messages, t), /is one of this model's special tokens; use a neutral one/, t);
  // Neutral tokens still work.
  for (const t of ['\n', ' ']) assert.equal(steeredPromptIds(m, messages, t).ids.length > 0, true);
});

test('a non-zero strength changes the generation', async () => {
  const m = await modelP;
  const a = await generateSteered(m, { messages, vector: fakeVector(m, 3), strength: { cK: 0, cV: 0 }, maxNewTokens: 24 });
  const b = await generateSteered(m, { messages, vector: fakeVector(m, 3), strength: { cK: 2, cV: 8 }, maxNewTokens: 24 });
  assert.notDeepEqual(a.tokenIds, b.tokenIds);
});

test("a comparison's steered side reuses the baseline's prefill and answers exactly as when asked alone", async () => {
  const m = await modelP;
  const req = { question: 'tell me about the sea', vector: fakeVector(m, 3), strength: { cK: 1, cV: 6 }, maxNewTokens: 24 };
  const both = await ask(m, { ...req, mode: 'compare' });
  const alone = await ask(m, { ...req, mode: 'steered' });
  assert.equal(both.steered?.prefillReused, true);
  assert.equal(both.baseline?.prefillReused, false);
  assert.equal(alone.steered?.prefillReused, false);
  assert.deepEqual(both.steered?.tokens, alone.steered?.tokens);
  assert.notDeepEqual(both.steered?.tokens, both.baseline?.tokens, 'the edit must change this answer for the test to mean anything');
});

test('a rerun of the steered side at another strength reuses the kept prefill and answers as a fresh run', async () => {
  const m = await modelP;
  const req = { question: 'tell me about the sea', vector: fakeVector(m, 3), maxNewTokens: 24 };
  const kept = new PrefillCache();
  await ask(m, { ...req, mode: 'compare', strength: { cK: 0, cV: 2 }, prefillCache: kept });
  const rerun = await ask(m, { ...req, mode: 'steered', strength: { cK: 0, cV: 9 }, prefillCache: kept });
  const fresh = await ask(m, { ...req, mode: 'steered', strength: { cK: 0, cV: 9 } });
  assert.equal(rerun.steered?.prefillReused, true);
  assert.deepEqual(rerun.steered?.tokens, fresh.steered?.tokens);
});

test('readying a vector for the edit (the once-per-process warm-up of the edit code) leaves the vector as it was', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  const bytes = (arrs: Float32Array[]) => Buffer.concat(arrs.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  const keys = bytes(v.keys), values = bytes(v.values);
  warmUpCacheEdit(v);
  assert.deepEqual(bytes(v.keys), keys);
  assert.deepEqual(bytes(v.values), values);
});

test('the edit touches only the last cached position of the selected layers, by exactly c·S', async () => {
  const m = await modelP;
  const { ids } = steeredPromptIds(m, messages, '\n');
  const prefill = await m.backend.forward({ tokens: ids.slice(0, -1), cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const before = prefill.cache.clone();
  const edited = prefill.cache.clone();
  const v = fakeVector(m);
  const cK = 0.75, cV = 4;
  steerCache(edited, v, { cK, cV });
  const { numKvHeads: kvh, headDim: hd } = m.config;
  const T = before.length;
  for (let l = 0; l < m.config.numLayers; l++) {
    for (const which of ['key', 'value'] as const) {
      const c = which === 'key' ? cK : cV;
      const S = which === 'key' ? v.keys[l] : v.values[l];
      for (let h = 0; h < kvh; h++) for (let t = 0; t < T; t++) for (let d = 0; d < hd; d++) {
        const i = (h * T + t) * hd + d;
        const want = l >= 1 && t === T - 1 ? Math.fround(before.layers[l][which][i] + c * S[h * hd + d]) : before.layers[l][which][i];
        const got = edited.layers[l][which][i];
        assert.ok(Math.abs(got - want) <= 1e-6, `layer ${l} ${which} head ${h} pos ${t} dim ${d}: ${got} vs ${want}`);
      }
    }
  }
});

test('the edit scales linearly with strength and honours an explicit layer list', async () => {
  const m = await modelP;
  const { ids } = steeredPromptIds(m, messages, '\n');
  const base = (await m.backend.forward({ tokens: ids.slice(0, -1), cache: m.backend.emptyCache(), logitsToKeep: 1 })).cache;
  const v = fakeVector(m);
  const one = base.clone(), two = base.clone(), only0 = base.clone();
  steerCache(one, v, { cK: 0, cV: 1 });
  steerCache(two, v, { cK: 0, cV: 2 });
  steerCache(only0, v, { cK: 0, cV: 1, layers: [0] });
  const last = base.length - 1;
  for (let l = 1; l < m.config.numLayers; l++) {
    const b = base.read(l, 'value', last), d1 = one.read(l, 'value', last), d2 = two.read(l, 'value', last);
    for (let i = 0; i < b.length; i++) {
      // The edit is the vector itself at c_v 1 (so a missing edit cannot pass as linear), twice that at 2.
      assert.ok(Math.abs(d1[i] - b[i] - v.values[l][i]) < 1e-5, `layer ${l} [${i}]: edit ${d1[i] - b[i]} vs ${v.values[l][i]}`);
      assert.ok(Math.abs((d2[i] - b[i]) - 2 * (d1[i] - b[i])) < 1e-5);
    }
  }
  assert.notDeepEqual(only0.read(0, 'value', last), base.read(0, 'value', last));
  assert.deepEqual(only0.read(1, 'value', last), base.read(1, 'value', last));
});

test('extraction refuses a contrastive prompt longer than the context window, naming the pair', async () => {
  const m = await modelP;
  const long = items.map((it) => ({ ...it, steps: `${it.steps} ${'the sea is wet '.repeat(40)}` }));
  const pairs = buildContrastivePairs(long, m.tokenizer, { demos: 2, pairs: 1, seed: 5 });
  await assert.rejects(extractDirections(m, pairs), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'PROMPT_TOO_LONG');
    assert.match(e.message, /the positive prompt of contrastive pair 1 has \d+ tokens but the model's context window is 512/);
    return true;
  });
});

test('extraction equals an independent reference loop over 3 pairs', async () => {
  const m = await modelP;
  const pairs = buildContrastivePairs(items, m.tokenizer, { demos: 2, pairs: 3, seed: 5 });
  assert.equal(pairs.length, 3);
  for (const p of pairs) {
    assert.ok(p.positive.includes(' The answer is') && p.negative.includes('<|im_start|>assistant\n The answer is'));
    assert.ok(p.positive.endsWith('<|im_start|>assistant\n') && p.negative.endsWith('<|im_start|>assistant\n'));
  }
  const got = await extractDirections(m, pairs);
  const ref = new ReferenceLlama(openGguf(tinyGgufPath()));
  const { numKvHeads: kvh, headDim: hd, numLayers: L } = m.config;
  const wantK = Array.from({ length: L }, () => new Float64Array(kvh * hd));
  const wantV = Array.from({ length: L }, () => new Float64Array(kvh * hd));
  const H = m.config.hiddenSize;
  const wantH = Array.from({ length: L }, () => new Float64Array(H));
  for (const p of pairs) {
    for (const [text, sign] of [[p.positive, 1], [p.negative, -1]] as const) {
      const ids = m.tokenizer.encode(text);
      const out = ref.forward(ids);
      const T = ids.length;
      for (let l = 0; l < L; l++) for (let h = 0; h < kvh; h++) for (let i = 0; i < hd / 2; i++) for (let j = 0; j < 2; j++) {
        // reference keys are in llama.cpp's interleaved layout; ours in rotate-half layout
        wantK[l][h * hd + j * (hd / 2) + i] += (sign * out.keys[l][(h * T + T - 1) * hd + 2 * i + j]) / pairs.length;
        wantV[l][h * hd + j * (hd / 2) + i] += (sign * out.values[l][(h * T + T - 1) * hd + j * (hd / 2) + i]) / pairs.length;
      }
      // Activation steering's direction: the residual stream after each block at the last token.
      for (let l = 0; l < L; l++) for (let i = 0; i < H; i++) wantH[l][i] += (sign * out.hidden[l][(T - 1) * H + i]) / pairs.length;
    }
  }
  for (let l = 0; l < L; l++) for (let i = 0; i < kvh * hd; i++) {
    assert.ok(Math.abs(got.keys[l][i] - wantK[l][i]) < 1e-4, `keys[${l}][${i}] ${got.keys[l][i]} vs ${wantK[l][i]}`);
    assert.ok(Math.abs(got.values[l][i] - wantV[l][i]) < 1e-4, `values[${l}][${i}] ${got.values[l][i]} vs ${wantV[l][i]}`);
  }
  assert.ok(got.hidden, 'a GGUF import exposes the residual stream, so extraction returns activation directions');
  for (let l = 0; l < L; l++) for (let i = 0; i < H; i++) {
    assert.ok(Math.abs(got.hidden[l][i] - wantH[l][i]) < 1e-4, `hidden[${l}][${i}] ${got.hidden[l][i]} vs ${wantH[l][i]}`);
  }
});
