/**
 * The evaluation harness on the tiny model: results are appended per item and a stopped run
 * resumes without recomputing finished items (a torn last line is repaired), a malformed data row
 * is reported with its line number and skipped, and the reports are well formed.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runEval, readGenerations, madeLikeThisRun, GENERATIONS_FILE, COT_PREFIX } from '../../../src/engine/eval/runEval';
import { generate } from '../../../src/engine/generation/generate';
import { readEvalRows } from '../../../src/engine/eval/tasks';
import { summarize, toHtml, toMarkdown } from '../../../src/engine/eval/summarize';
import { hasLoop, wordCount } from '../../../src/engine/eval/metrics';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { ReferenceLlama } from '../../support/referenceLlama';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { generateSteered } from '../../../src/engine/steering/applySteering';
import { INVALID, MC_FOLLOW_UP, STOP_STRINGS } from '../../../src/engine/eval/answerFilters';
import { arcConfig } from '../../support/evalConfig';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-eval-'));
const data = path.join(dir, 'arc.jsonl');
fs.writeFileSync(
  data,
  [
    JSON.stringify({ id: 'q1', question: 'Which is a metal?\n\nChoices:\nA: wood\nB: iron\nC: glass\nD: paper', answer: 'B' }),
    '{"id": "broken", "question": ',
    JSON.stringify({ id: 'q2', question: 'What melts ice?\n\nChoices:\nA: heat\nB: cold\nC: dark\nD: wind', answer: 'A' }),
    JSON.stringify({ id: 'q3', question: 'What do plants need?\n\nChoices:\nA: rocks\nB: plastic\nC: light\nD: noise', answer: 'C' }),
    JSON.stringify({ id: 'q4', answer: 'A' }),
  ].join('\n') + '\n',
);

test('a malformed data row is reported with its line number and skipped', () => {
  const { rows, bad } = readEvalRows(data);
  assert.deepEqual(rows.map((r) => r.id), ['q1', 'q2', 'q3']);
  assert.deepEqual(bad, [
    { line: 2, reason: 'not valid JSON' },
    { line: 5, reason: '"question" must be a non-empty string' },
  ]);
});

test('a data row that is JSON but no object (an array, a string) is reported as not a JSON object, as the pairs and score readers report it', () => {
  const file = path.join(dir, 'not-objects.jsonl');
  fs.writeFileSync(file, ['["What is 2 + 2?", "4"]', '"What is 2 + 2?"', JSON.stringify({ question: 'What is 2 + 2?', answer: '4' })].join('\n'));
  const { rows, bad } = readEvalRows(file);
  assert.deepEqual(rows.map((r) => r.id), ['line-3']);
  assert.deepEqual(bad, [
    { line: 1, reason: 'not a JSON object' },
    { line: 2, reason: 'not a JSON object' },
  ]);
});

test('a data file saved with a byte order mark (as Windows editors save UTF-8) keeps its first row', () => {
  const file = path.join(dir, 'bom.jsonl');
  fs.writeFileSync(file, '\uFEFF' + [JSON.stringify({ id: 'a', question: 'What is 2 + 2?', answer: '4' }), JSON.stringify({ id: 'b', question: 'What is 3 + 3?', answer: '6' })].join('\n'));
  const { rows, bad } = readEvalRows(file);
  assert.deepEqual(bad, []);
  assert.deepEqual(rows.map((r) => r.id), ['a', 'b']);
});

test("a data row's numeric id is kept as its id, not replaced by its line number", () => {
  const file = path.join(dir, 'numeric-ids.jsonl');
  fs.writeFileSync(file, [JSON.stringify({ id: 17, question: 'What is 2 + 2?', answer: '4' }), JSON.stringify({ question: 'What is 3 + 3?', answer: '6' }), JSON.stringify({ id: '17', question: 'What is 1 + 1?', answer: '2' })].join('\n'));
  const { rows, bad } = readEvalRows(file);
  assert.deepEqual(rows.map((r) => r.id), ['17', 'line-2']);
  assert.deepEqual(bad, [{ line: 3, reason: 'duplicate id 17' }]);
});

test('GSM8K rows as published score against the number after "####"; Hugging Face choice rows are refused with what to change', () => {
  const file = path.join(dir, 'formats.jsonl');
  fs.writeFileSync(file, [
    JSON.stringify({ question: 'Natalia sold 48 clips in April and half as many in May. How many in all?', answer: 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 1,072' }),
    JSON.stringify({ id: 'arc-hf', question: 'Which is a metal?', choices: { text: ['wood', 'iron'], label: ['A', 'B'] }, answerKey: 'B' }),
  ].join('\n'));
  const { rows, bad } = readEvalRows(file);
  assert.deepEqual(rows.map((r) => r.answer), ['1072']);
  assert.deepEqual(bad, [{ line: 2, reason: '"answer" is missing: write the choices into "question" ("A: …" lines) and the right letter as "answer" (kvsteer eval --help)' }]);
});

test('a stopped run resumes without recomputing finished items', async () => {
  const m = await modelP;
  const out = path.join(dir, 'run');
  const cfg = arcConfig(m, readEvalRows(data).rows, out, 6);
  // Stop after 2 of the 6 items (abort is checked before each item).
  const ac = new AbortController();
  await assert.rejects(runEval(m, { ...cfg, signal: ac.signal, onProgress: (p) => p.done === 2 && ac.abort() }), /cancelled/);
  assert.equal(readGenerations(out).length, 2);
  // A kill in the middle of a write leaves a torn line: it is cut off, not fatal.
  fs.appendFileSync(path.join(out, GENERATIONS_FILE), '{"task": "arc-chall');
  const progress: { done: number; skipped: number }[] = [];
  const rowsOut = await runEval(m, { ...cfg, onProgress: (p) => progress.push({ done: p.done, skipped: p.skipped }) });
  assert.equal(rowsOut.length, 6);
  assert.equal(progress.length, 4, 'only the 4 unfinished items were computed');
  assert.equal(progress[0].skipped, 2);
  const saved = readGenerations(out);
  assert.equal(saved.length, 6);
  assert.deepEqual(new Set(saved.map((r) => `${r.method}/${r.id}`)).size, 6);
  for (const r of saved) {
    assert.ok(r.response.includes('\nSo the correct choice is'), 'multiple-choice follow-up appended');
    assert.ok('augmented_extract' in r.filtered_response && 'last_letter' in r.filtered_response);
    if (r.method === 'cache-steering') assert.ok(r.response.startsWith('\n') && r.c_v === 6);
  }
});

test('a last row written without its newline (a full disk) is closed on resume, so the next row does not join its line', () => {
  const out = fs.mkdtempSync(path.join(dir, 'no-newline-'));
  const file = path.join(out, GENERATIONS_FILE);
  const row = (id: string) => JSON.stringify({ task: 'arc-challenge', method: 'baseline', variant: '', seed: null, id, filtered_response: {} });
  fs.writeFileSync(file, row('a') + '\n' + row('b'));
  assert.deepEqual(readGenerations(out).map((r) => r.id), ['a', 'b']);
  fs.appendFileSync(file, row('c') + '\n'); // what runEval appends next
  assert.deepEqual(readGenerations(out).map((r) => r.id), ['a', 'b', 'c']);
});

test('a damaged row before the last one is an error naming its line, and the answers after it are kept (before: cut off with it, or a TypeError later)', () => {
  const out = fs.mkdtempSync(path.join(dir, 'damaged-'));
  const file = path.join(out, GENERATIONS_FILE);
  const row = (id: string) => JSON.stringify({ task: 'arc-challenge', method: 'baseline', variant: '', seed: null, id, filtered_response: {} });
  for (const [damaged, why] of [['{"garbage', /not JSON/], ['null', /not an answer row/], ['{"method":"baseline","id":5}', /not an answer row/],
    // Edited by hand: without its extracted answers (before: a TypeError in the rescue check on resume).
    ['{"task":"arc-challenge","method":"baseline","variant":"","seed":null,"id":"b"}', /not an answer row: .*filtered_response/],
  ] as const) {
    const text = [row('a'), damaged, row('c'), ''].join('\n');
    fs.writeFileSync(file, text);
    assert.throws(() => readGenerations(out), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'DATA_INVALID', e.message);
      assert.ok(e.message.startsWith(`${file}:2: `), e.message);
      assert.match(e.message, why);
      assert.match(e.message, /nothing was changed/);
      return true;
    });
    assert.equal(fs.readFileSync(file, 'utf8'), text, `${damaged}: the file is unchanged`);
  }
  // A torn last line (a write cut short) is still cut off, and so is nothing else.
  fs.writeFileSync(file, [row('a'), row('b'), '{"task":"arc-chall'].join('\n'));
  assert.deepEqual(readGenerations(out).map((r) => r.id), ['a', 'b']);
  assert.equal(fs.readFileSync(file, 'utf8'), [row('a'), row('b'), ''].join('\n'));
});

test('a run cancelled in the middle of an answer saves no row for it, so a resume computes that answer again', async () => {
  const m = await modelP;
  const out = path.join(dir, 'cancel-mid-answer');
  const rows = [{ id: 'g1', question: 'Tom has 3 apples and buys 4 more. How many apples does he have?', answer: '7' }];
  const ac = new AbortController();
  // Abort after the prefill and two decode steps, while the answer is being generated.
  const forward = m.backend.forward.bind(m.backend);
  let calls = 0;
  m.backend.forward = (req) => (++calls === 3 && ac.abort(), forward(req));
  try {
    const cfg = { task: 'gsm8k' as const, rows, methods: ['baseline' as const], decoding: 'greedy' as const, seeds: 1, sampling: { temperature: 0.6, topP: 0.9, topK: 50 }, maxNewTokens: 8, outDir: out };
    await assert.rejects(runEval(m, { ...cfg, signal: ac.signal }), /cancelled/);
    assert.deepEqual(readGenerations(out), [], 'the cut-off answer was saved as finished');
  } finally {
    m.backend.forward = forward;
  }
});

test('cache steering takes another offset token when asked, records it, and refuses one of several tokens before writing', async () => {
  const m = await modelP;
  const out = path.join(dir, 'offset');
  const cfg = { ...arcConfig(m, readEvalRows(data).rows.slice(0, 1), out, 4), methods: ['cache-steering' as const] };
  await assert.rejects(runEval(m, { ...cfg, offsetToken: 'two words' }), /the offset token "two words" is \d+ tokens for this model; it must be exactly one/);
  assert.equal(fs.existsSync(path.join(out, GENERATIONS_FILE)), false, 'nothing written');
  const [row] = await runEval(m, { ...cfg, offsetToken: ' ' });
  assert.ok(row.response.startsWith(' ') && !row.response.startsWith('\n'), JSON.stringify(row.response));
  assert.equal(row.offset_token, ' ');
  // The task's own offset token is the default and is not recorded.
  const [plain] = await runEval(m, { ...cfg, outDir: path.join(dir, 'offset-default'), offsetToken: '\n' });
  assert.ok(plain.response.startsWith('\n'));
  assert.equal(plain.offset_token, undefined);
});

test("cache steering's answers are generateSteered's at the strength and offset token asked, not the baseline's", async () => {
  const m = await modelP;
  const rows = readEvalRows(data).rows.slice(0, 2);
  // Keys too: on the tiny random model an edit of the values alone never moves a greedy token.
  const vector = fakeVector(m, 3);
  const strength = { cK: 8, cV: 8 };
  const saved = await runEval(m, { ...arcConfig(m, rows, path.join(dir, 'steered-equal'), 8), vector, strength, offsetToken: ' ', forceChoice: false });
  let differs = 0;
  for (const row of rows) {
    const steered = saved.find((r) => r.method === 'cache-steering' && r.id === row.id)!;
    const baseline = saved.find((r) => r.method === 'baseline' && r.id === row.id)!;
    const want = await generateSteered(m, { messages: [{ role: 'user', content: row.question }], vector, strength, offsetToken: ' ', maxNewTokens: 8, stopStrings: [...STOP_STRINGS] });
    assert.ok(steered.response.startsWith(' ' + want.text + MC_FOLLOW_UP), `${JSON.stringify(steered.response)} vs ${JSON.stringify(want.text)}`);
    if (steered.response.split(MC_FOLLOW_UP)[0].trim() !== baseline.response.split(MC_FOLLOW_UP)[0].trim()) differs++;
  }
  assert.ok(differs > 0, 'the steered answers equal the baseline ones, so the edit went untested');
});

test('CoT prompting appends "Let\'s think step by step." after the generation prompt and answers from there', async () => {
  const m = await modelP;
  const rows = readEvalRows(data).rows.slice(0, 1);
  const [cot] = await runEval(m, { ...arcConfig(m, rows, path.join(dir, 'cot'), 6), methods: ['cot-prompt'], forceChoice: false });
  const template = m.tokenizer.applyChatTemplate([{ role: 'user', content: rows[0].question }], true);
  assert.equal(cot.input, template + COT_PREFIX);
  const want = await generate(m, { promptIds: m.tokenizer.encode(template + COT_PREFIX), maxNewTokens: 6, stopStrings: [...STOP_STRINGS] });
  assert.ok(cot.response.startsWith(want.text + MC_FOLLOW_UP), JSON.stringify([cot.response, want.text]));
});

test("a multiple-choice row's tokens, words and loop measure the answer alone, not the follow-up after it", async () => {
  const m = await modelP;
  const rows = readEvalRows(data).rows.slice(0, 1);
  const [row] = await runEval(m, { ...arcConfig(m, rows, path.join(dir, 'measures'), 6), methods: ['baseline'], forceChoice: false });
  const template = m.tokenizer.applyChatTemplate([{ role: 'user', content: rows[0].question }], true);
  const want = await generate(m, { promptIds: m.tokenizer.encode(template), maxNewTokens: 6, stopStrings: [...STOP_STRINGS] });
  assert.ok(row.response.startsWith(want.text + MC_FOLLOW_UP), JSON.stringify([row.response, want.text]));
  assert.deepEqual([row.tokens, row.words, row.loop, row.stop_reason], [want.tokenIds.length, wordCount(want.text), hasLoop(want.text), want.stopReason]);
  assert.ok(row.prefill_ms > 0);
});

test("activation steering's answers follow a reference forward pass with the direction added after the block, not the baseline's", async () => {
  const m = await modelP;
  const rows = readEvalRows(data).rows.slice(0, 2);
  const H = m.config.hiddenSize;
  const vector = { ...fakeVector(m), hidden: Array.from({ length: m.config.numLayers }, (_, l) => Float32Array.from({ length: H }, (_, i) => Math.cos(l * 5 + i * 0.9))) };
  const caa = { layers: [0], coefficient: 4 };
  const saved = await runEval(m, { ...arcConfig(m, rows, path.join(dir, 'caa'), 6), methods: ['baseline', 'activation-steering'], vector, caa, forceChoice: false });
  const ref = new ReferenceLlama(openGguf(tinyGgufPath()));
  const add = new Map([[0, Float32Array.from(vector.hidden[0], (x) => x * caa.coefficient)]]);
  let differs = 0;
  for (const row of rows) {
    const steered = saved.find((r) => r.method === 'activation-steering' && r.id === row.id)!;
    const baseline = saved.find((r) => r.method === 'baseline' && r.id === row.id)!;
    // Greedy decoding on the reference: the direction is added from the last prompt token on.
    const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: row.question }], true));
    const from = ids.length - 1;
    const out: number[] = [];
    for (let step = 0; step < 6; step++) {
      const logits = ref.forward([...ids, ...out], { from, add }).logits;
      const last = logits.subarray(logits.length - m.config.vocabSize);
      const sorted = [...last].sort((a, b) => b - a);
      assert.ok(sorted[0] - sorted[1] > 1e-3, 'a near tie: the test would compare rounding, not steering');
      const next = last.indexOf(sorted[0]);
      if (m.config.eosTokenIds.includes(next)) break;
      out.push(next);
    }
    const answer = steered.response.split(MC_FOLLOW_UP)[0];
    assert.equal(answer, m.tokenizer.decode(out), 'activation-steered answer');
    if (answer.trim() !== baseline.response.split(MC_FOLLOW_UP)[0].trim()) differs++;
  }
  assert.ok(differs > 0, 'the activation-steered answers equal the baseline ones, so the addition went untested');
});

test('a folder refuses to resume rows made with other settings, and writes nothing', async () => {
  const m = await modelP;
  const out = path.join(dir, 'settings');
  const cfg = { ...arcConfig(m, readEvalRows(data).rows.slice(0, 1), out, 4), strength: { cK: 0, cV: 2 } };
  await runEval(m, cfg);
  const file = path.join(out, GENERATIONS_FILE);
  const before = fs.readFileSync(file, 'utf8');
  assert.equal(before.trim().split('\n').length, 2);
  await assert.rejects(runEval(m, { ...cfg, strength: { cK: 0, cV: 3 } }), /cache-steering results made with c_v = 2; this run asks for 3/);
  await assert.rejects(runEval(m, { ...cfg, maxNewTokens: 5 }), /baseline results made with max_new_tokens = 4; this run asks for 5/);
  await assert.rejects(runEval(m, { ...cfg, strength: { cK: 0, cV: 2, layers: [1] } }), /made with layers = the default; this run asks for \[1\]/);
  await assert.rejects(runEval(m, { ...cfg, offsetToken: ' ' }), /made with offset_token = the default; this run asks for " "/);
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'nothing appended by refused runs');
  // The same settings resume: nothing is recomputed.
  const resumed = await runEval(m, { ...cfg, onProgress: () => assert.fail('an item was recomputed') });
  assert.equal(resumed.length, 2);
  assert.equal(fs.readFileSync(file, 'utf8'), before);
  const saved = readGenerations(out);
  assert.deepEqual(saved.map((r) => [r.method, r.max_new_tokens, r.c_v ?? null]), [['baseline', 4, null], ['cache-steering', 4, 2]]);
  assert.ok(saved.every((r) => r.model === m.name));
});

test('a folder resumes rows whose recorded settings an engine caller passes with the keys in another order (before: refused as other settings)', async () => {
  const m = await modelP;
  const out = path.join(dir, 'key-order');
  const cfg = {
    ...arcConfig(m, readEvalRows(data).rows.slice(0, 1), out, 2),
    methods: ['baseline' as const, 'activation-steering' as const],
    decoding: 'sampling' as const,
    sampling: { temperature: 0.6, topP: 0.9, topK: 50 },
    repeatPenalty: { penalty: 1.1, lastN: 64 },
    caa: { layers: [1], coefficient: 2 },
    vector: { ...fakeVector(m), hidden: Array.from({ length: m.config.numLayers }, () => new Float32Array(m.config.hiddenSize).fill(0.1)) },
  };
  await runEval(m, cfg);
  const before = fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8');
  const reordered = { ...cfg, sampling: { topK: 50, topP: 0.9, temperature: 0.6 }, repeatPenalty: { lastN: 64, penalty: 1.1 }, caa: { coefficient: 2, layers: [1] } };
  const resumed = await runEval(m, { ...reordered, onProgress: () => assert.fail('an item was recomputed') });
  assert.equal(resumed.length, 2);
  assert.equal(fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8'), before);
  assert.ok(resumed.every((r) => madeLikeThisRun(r, m, reordered)));
  // Another value is still another setting.
  await assert.rejects(runEval(m, { ...reordered, caa: { coefficient: 3, layers: [1] } }), /activation-steering results made with caa = \{"layers":\[1\],"coefficient":2\}; this run asks for \{"coefficient":3,"layers":\[1\]\}/);
});

test('a folder refuses to resume multiple-choice rows made with the other force-choice setting', async () => {
  const m = await modelP;
  const out = path.join(dir, 'force-choice');
  const cfg = { ...arcConfig(m, readEvalRows(data).rows.slice(0, 1), out, 2), methods: ['baseline' as const] };
  await runEval(m, { ...cfg, forceChoice: false });
  const before = fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8');
  await assert.rejects(runEval(m, cfg), /baseline results made with force_choice = false; this run asks for the default/);
  assert.equal(fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8'), before, 'nothing appended by the refused run');
  const resumed = await runEval(m, { ...cfg, forceChoice: false, onProgress: () => assert.fail('an item was recomputed') });
  assert.equal(resumed.length, 1);
});

test('rows from before force_choice was recorded that hold an unrescued [invalid] answer count as made with --no-force-choice: that run resumes them, a rescuing one refuses them', async () => {
  const m = await modelP;
  const out = path.join(dir, 'force-choice-unrecorded');
  const cfg = { ...arcConfig(m, readEvalRows(data).rows.slice(0, 2), out, 2), methods: ['baseline' as const] };
  const made = await runEval(m, { ...cfg, forceChoice: false });
  assert.ok(made.every((r) => r.filtered_response.augmented_extract === INVALID), 'an answer named a choice, so the rescue had nothing to show');
  // As kvsteer wrote them before it recorded the setting.
  const file = path.join(out, GENERATIONS_FILE);
  fs.writeFileSync(file, made.map((r) => JSON.stringify({ ...r, force_choice: undefined }) + '\n').join(''));
  const before = fs.readFileSync(file, 'utf8');
  assert.ok(!before.includes('force_choice'));
  await assert.rejects(runEval(m, cfg), /baseline results made with force_choice = false; this run asks for the default/);
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'nothing appended by the refused run');
  const resumed = await runEval(m, { ...cfg, forceChoice: false, onProgress: () => assert.fail('an item was recomputed') });
  assert.equal(resumed.length, 2);
  // The summary's filter reads them alike.
  assert.ok(resumed.every((r) => madeLikeThisRun(r, m, { ...cfg, forceChoice: false }) && !madeLikeThisRun(r, m, cfg)));
});

test("a folder refuses to resume rows made with the GGUF import's other precision (the model name is the same)", async () => {
  const m = await modelP;
  const out = path.join(dir, 'precision');
  const cfg = { ...arcConfig(m, readEvalRows(data).rows.slice(0, 1), out, 2), methods: ['baseline' as const], forceChoice: false };
  await runEval(m, cfg);
  const before = fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8');
  const fast = await loadTinyModel({ precision: 'fast' });
  try {
    assert.equal(fast.name, m.name);
    await assert.rejects(runEval(fast, cfg), /baseline results made with precision = the default; this run asks for "fast"/);
    assert.equal(fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8'), before, 'nothing appended by the refused run');
    const [row] = await runEval(fast, { ...cfg, outDir: path.join(dir, 'precision-fast') });
    assert.equal(row.precision, 'fast');
  } finally {
    await fast.dispose();
  }
});

test('a folder refuses rows of another task or of other data under the same ids', async () => {
  const m = await modelP;
  const out = path.join(dir, 'other-data');
  const rows = readEvalRows(data).rows.slice(0, 1);
  const cfg = { ...arcConfig(m, rows, out, 2), methods: ['baseline' as const] };
  await runEval(m, cfg);
  const before = fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8');
  const otherQuestion = [{ ...rows[0], question: 'Which is a gas?\n\nChoices:\nA: air\nB: iron\nC: glass\nD: paper' }];
  await assert.rejects(runEval(m, { ...cfg, rows: otherQuestion }), /holds an answer to another question as item q1: it was made from other data/);
  await assert.rejects(runEval(m, { ...cfg, rows: [{ ...rows[0], answer: 'C' }] }), /another question as item q1/);
  await assert.rejects(runEval(m, { ...cfg, task: 'commonsense-qa' }), /holds arc-challenge results; this run is commonsense-qa/);
  assert.equal(fs.readFileSync(path.join(out, GENERATIONS_FILE), 'utf8'), before, 'nothing appended by refused runs');
});

test('a folder resumes items whose question the chat template trims (as Llama 3 and Gemma templates do)', async () => {
  const m = await modelP;
  const out = path.join(dir, 'trimmed-question');
  // PIQA's test set has 114 questions ending in a space.
  const rows = [{ id: 'p1', question: 'spray paint\n\nChoices:\nA: can mark paper. \nB: can mark a building. ', answer: 'A' }];
  const template = m.tokenizer.applyChatTemplate.bind(m.tokenizer);
  m.tokenizer.applyChatTemplate = (messages, add) => template(messages.map((x) => ({ ...x, content: x.content.trim() })), add);
  try {
    const cfg = { task: 'piqa' as const, rows, methods: ['baseline' as const], decoding: 'greedy' as const, seeds: 1, sampling: { temperature: 0.6, topP: 0.9, topK: 50 }, maxNewTokens: 2, outDir: out, forceChoice: false };
    await runEval(m, cfg);
    const resumed = await runEval(m, { ...cfg, onProgress: () => assert.fail('an item was recomputed') });
    assert.equal(resumed.length, 1);
  } finally {
    m.tokenizer.applyChatTemplate = template;
  }
});

test("a rescued multiple-choice answer is recorded and scored as the paper's: the answer, the prompt, the forced letter", async () => {
  const m = await modelP;
  const out = path.join(dir, 'rescue');
  // The tiny random model's answers name no choice, so each one needs the rescue.
  const saved = await runEval(m, { ...arcConfig(m, readEvalRows(data).rows, out, 6), methods: ['baseline'] });
  const rescued = saved.filter((r) => r.forced_choice !== undefined);
  assert.ok(rescued.length > 0, 'no answer needed the rescue, so it went untested');
  for (const r of rescued) {
    const letter = r.forced_choice!.trim();
    assert.match(letter, /^[A-E]$/);
    assert.ok(r.response.endsWith(`So the correct choice is${r.forced_choice}`), JSON.stringify(r.response.slice(-60)));
    assert.equal(r.response.split('So the correct choice is').length, 2, 'the follow-up text is replaced, not kept before the letter');
    assert.equal(r.filtered_response.augmented_extract, letter);
    assert.equal(r.correct.augmented_extract, letter === r.target);
  }
});

test('sampling runs one pass per paper seed and reports mean ± std over seeds', async () => {
  const m = await modelP;
  const { rows } = readEvalRows(data);
  const out = path.join(dir, 'sampling');
  const res = await runEval(m, { task: 'arc-challenge', rows: rows.slice(0, 2), methods: ['baseline'], decoding: 'sampling', seeds: 3, sampling: { temperature: 1, topP: 0.9, topK: 20 }, maxNewTokens: 4, outDir: out });
  assert.deepEqual([...new Set(res.map((r) => r.seed))], [1234, 1235, 1237]);
  const s = summarize(res, { task: 'arc-challenge', model: 'tiny', decoding: 'sampling', maxNewTokens: 4 });
  assert.equal(s.methods[0].seeds, 3);
  assert.ok(Number.isFinite(s.methods[0].accuracy.augmented_extract!.std));
  assert.match(toMarkdown(s), /\| baseline \| 2 \| [\d.]+ ± [\d.]+ \|/);
});

test('the HTML report escapes model text and runs no scripts', () => {
  const s = summarize(
    [{ task: 'arc-challenge', method: 'baseline', variant: '', seed: null, id: 'x', input: '', target: 'A', response: '<script>', filtered_response: {}, correct: { augmented_extract: true }, tokens: 3, words: 1, loop: false, ms_per_token: 10, prefill_ms: 1, stop_reason: 'eos' }],
    { task: 'arc-challenge', model: '<img src=x onerror=alert(1)>', decoding: 'greedy', maxNewTokens: 8 },
  );
  const html = toHtml([s]);
  assert.ok(!html.includes('<img src=x'));
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(!/<script/i.test(html));
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
});

test('the HTML report escapes &, quotes and closing tags in the model name and the command', () => {
  const s = summarize(
    [{ task: 'arc-challenge', method: 'baseline', variant: '', seed: null, id: 'x', input: '', target: 'A', response: '', filtered_response: {}, correct: { augmented_extract: true }, tokens: 3, words: 1, loop: false, ms_per_token: 10, prefill_ms: 1, stop_reason: 'eos' }],
    { task: 'arc-challenge', model: `Q&A "m" 'n' </textarea>`, decoding: 'greedy', maxNewTokens: 8, command: 'kvsteer eval --out "a&b" --data </code><script>x</script>' },
  );
  const html = toHtml([s]);
  assert.ok(html.includes('Q&amp;A &quot;m&quot; &#39;n&#39; &lt;/textarea&gt;'), 'model name escaped');
  assert.ok(html.includes('<code>kvsteer eval --out &quot;a&amp;b&quot; --data &lt;/code&gt;&lt;script&gt;x&lt;/script&gt;</code>'), 'command escaped');
  assert.ok(!/<script|<\/textarea/i.test(html));
});

test('summaries count loops per band of answer length, the budget falling in the last band', () => {
  const row = (tokens: number, loop: boolean) => ({
    task: 'arc-challenge' as const, method: 'baseline' as const, variant: '', seed: null, id: `i${tokens}${loop}`, input: '', target: 'A', response: '', filtered_response: {},
    correct: { augmented_extract: false }, tokens, words: tokens, loop, ms_per_token: 10, prefill_ms: 1, stop_reason: 'eos',
  });
  const s = summarize([row(5, false), row(99, false), row(100, true), row(150, false), row(250, true), row(250, false)], {
    task: 'arc-challenge', model: 'tiny', decoding: 'greedy', maxNewTokens: 250,
  });
  assert.deepEqual(s.methods[0].loopsByLength.map((b) => [b.from, b.to, b.loops, b.answers]), [[0, 100, 0, 2], [100, 200, 1, 2], [200, 250, 1, 2]]);
  const short = summarize([row(5, false)], { task: 'arc-challenge', model: 'tiny', decoding: 'greedy', maxNewTokens: 512 });
  assert.deepEqual(short.methods[0].loopsByLength.map((b) => [b.from, b.to]), [[0, 100], [100, 200], [200, 300], [300, 400], [400, 512]]);
  assert.match(toMarkdown(s), /\| Method \| 0–99 \| 100–199 \| 200–250 \|\n\|---\|---:\|---:\|---:\|\n\| baseline \| 0\/2 \| 1\/2 \| 1\/2 \|/);
});

test('a loop is a word 4-gram repeated at least five times', () => {
  assert.equal(hasLoop('the cat sat on '.repeat(5)), true);
  assert.equal(hasLoop('the cat sat on '.repeat(4)), false);
  assert.equal(hasLoop('one two three four five six seven eight nine ten'), false);
});
