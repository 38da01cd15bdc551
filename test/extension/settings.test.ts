/** Settings validation: defaults, out-of-range and mistyped values give messages naming the setting. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, validateSettings } from '../../src/config/settingsSchema';

const from = (values: Record<string, unknown>) => validateSettings((k) => values[k]);

test('no configured values give the defaults', () => {
  const r = from({});
  assert.ok(r.ok);
  assert.deepEqual(r.settings, DEFAULT_SETTINGS);
});

test('an out-of-range or non-numeric strength is refused with the setting name', () => {
  for (const bad of [150, -101, Number.NaN, 'six', Infinity]) {
    const r = from({ 'strength.values': bad });
    assert.ok(!r.ok);
    assert.match(r.errors[0], /kvsteer\.strength\.values must be a number between -100 and 100/);
  }
  const ok = from({ 'strength.values': 6, 'strength.keys': -0.5 });
  assert.ok(ok.ok && ok.settings.cV === 6 && ok.settings.cK === -0.5);
});

test('null strengths mean "use the vector\'s recommendation"', () => {
  const r = from({ 'strength.values': null });
  assert.ok(r.ok && r.settings.cV === null);
});

test('layers, decoding, token budget and precision are validated', () => {
  const r = from({ layers: '1-3, 7', 'decoding.mode': 'sampling', 'decoding.seed': 9, maxNewTokens: 64, precision: 'fast' });
  assert.ok(r.ok);
  assert.deepEqual(r.settings.layers, [1, 2, 3, 7]);
  assert.deepEqual(r.settings.decoding, { kind: 'sample', temperature: 0.6, topP: 0.9, topK: 50, seed: 9 });
  assert.equal(r.settings.precision, 'fast');
  const bad = from({ layers: 'one', 'decoding.mode': 'beam', maxNewTokens: 0, precision: 'int4' });
  assert.ok(!bad.ok);
  const text = bad.errors.join('\n');
  for (const re of [/kvsteer\.layers: cannot read "one"/, /kvsteer\.decoding\.mode must be "greedy" or "sampling"/, /kvsteer\.maxNewTokens must be an integer between 1 and 4096/, /kvsteer\.precision must be "exact" or "fast"/]) {
    assert.match(text, re);
  }
});

test('sampling settings out of range are refused, each by name, while sampling is on', () => {
  const cases: [string, unknown, RegExp][] = [
    ['decoding.temperature', 5.5, /kvsteer\.decoding\.temperature must be a number between 0 and 5 \(is 5\.5\)/],
    ['decoding.topP', 2, /kvsteer\.decoding\.topP must be a number between 0 and 1 \(is 2\)/],
    ['decoding.topK', 2.5, /kvsteer\.decoding\.topK must be an integer between 0 and 100000 \(is 2\.5\)/],
    ['decoding.seed', -1, /kvsteer\.decoding\.seed must be an integer between 0 and 4294967295 \(is -1\)/],
    ['threads', 1000, /kvsteer\.threads must be an integer between 0 and 256 \(is 1000\)/],
  ];
  for (const [key, value, re] of cases) {
    const r = from({ 'decoding.mode': 'sampling', [key]: value });
    assert.ok(!r.ok, `${key} = ${JSON.stringify(value)} was accepted`);
    assert.match(r.errors.join('\n'), re);
  }
  const edge = from({ 'decoding.mode': 'sampling', 'decoding.temperature': 5, 'decoding.topP': 1, 'decoding.topK': 0, 'decoding.seed': 2 ** 32 - 1 });
  assert.ok(edge.ok && edge.settings.decoding.kind === 'sample');
  assert.deepEqual(edge.settings.decoding, { kind: 'sample', temperature: 5, topP: 1, topK: 0, seed: 2 ** 32 - 1 });
});

test('the stop on repetition is on by default, can be turned off, and must be a boolean', () => {
  const d = from({});
  assert.ok(d.ok && d.settings.stopOnRepetition === true);
  const off = from({ stopOnRepetition: false });
  assert.ok(off.ok && off.settings.stopOnRepetition === false);
  const bad = from({ stopOnRepetition: 'yes' });
  assert.ok(!bad.ok);
  assert.match(bad.errors.join('\n'), /kvsteer\.stopOnRepetition must be true or false/);
});

test("an empty model is refused; an unset or empty offset token means the vector's own", () => {
  const r = from({ model: '  ', offsetToken: 5 });
  assert.ok(!r.ok);
  assert.match(r.errors.join('\n'), /kvsteer\.model must be a non-empty string/);
  assert.match(r.errors.join('\n'), /kvsteer\.offsetToken must be a non-empty string/);
  for (const unset of [{}, { offsetToken: null }, { offsetToken: '' }]) {
    const s = from(unset);
    assert.ok(s.ok && s.settings.offsetToken === null, JSON.stringify(unset));
  }
  const space = from({ offsetToken: ' ' });
  assert.ok(space.ok && space.settings.offsetToken === ' ');
});

test('the repeat penalty and its window are read and range-checked with the setting name', () => {
  const r = from({ 'repeatPenalty.penalty': 1.1, 'repeatPenalty.lastN': 256 });
  assert.ok(r.ok);
  assert.deepEqual(r.settings.repeatPenalty, { penalty: 1.1, lastN: 256 });
  for (const [k, v, re] of [
    ['repeatPenalty.penalty', 0.9, /kvsteer\.repeatPenalty\.penalty must be a number between 1 and 2/],
    ['repeatPenalty.penalty', Number.NaN, /kvsteer\.repeatPenalty\.penalty must be a number between 1 and 2/],
    ['repeatPenalty.penalty', '1.1', /kvsteer\.repeatPenalty\.penalty must be a number between 1 and 2/],
    ['repeatPenalty.lastN', 0, /kvsteer\.repeatPenalty\.lastN must be an integer between 1 and 32768/],
    ['repeatPenalty.lastN', 6.5, /kvsteer\.repeatPenalty\.lastN must be an integer between 1 and 32768/],
  ] as const) {
    const bad = from({ [k]: v });
    assert.ok(!bad.ok, `${k} = ${v}`);
    assert.match(bad.errors.join('\n'), re);
  }
});

test('the keep-alive is in minutes, 5 by default, -1 to keep the model, and range-checked with the setting name', () => {
  const none = from({});
  assert.ok(none.ok && none.settings.keepAliveMinutes === 5 && DEFAULT_SETTINGS.keepAliveMinutes === 5);
  const ok = from({ keepAlive: -1 });
  assert.ok(ok.ok && ok.settings.keepAliveMinutes === -1);
  for (const bad of [-2, 1441, Number.NaN, '5']) {
    const r = from({ keepAlive: bad });
    assert.ok(!r.ok);
    assert.match(r.errors.join('\n'), /kvsteer\.keepAlive must be a number between -1 and 1440/);
  }
});

test('a layer range beyond any model is refused with the setting name instead of being expanded', () => {
  // 20 million layers: expanded one by one, this threw a RangeError out of the settings reader (larger ones ran out of memory).
  for (const layers of ['0-20000000', '1-29, 4000000000', '1000']) {
    const r = from({ layers });
    assert.ok(!r.ok, layers);
    assert.match(r.errors.join('\n'), /kvsteer\.layers: cannot read ".*": layer numbers go up to 999/);
  }
  const deepest = from({ layers: '990-999' });
  assert.ok(deepest.ok && deepest.settings.layers?.length === 10);
});
