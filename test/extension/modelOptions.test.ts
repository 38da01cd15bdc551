/**
 * The language models' request options (modelOptions.ts): the common keys a caller passes set the
 * request's decoding and length, in either spelling; invalid values are refused naming the key, and
 * keys meant for other vendors' models are left alone.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, KvsteerSettings } from '../../src/config/settingsSchema';
import { settingsWithModelOptions } from '../../src/languageModel/modelOptions';
import { isKvsteerError } from '../../src/engine/util/errors';

const greedy: KvsteerSettings = { ...DEFAULT_SETTINGS, maxNewTokens: 256 };
const sampling: KvsteerSettings = { ...greedy, decoding: { kind: 'sample', temperature: 0.8, topP: 0.95, topK: 40, seed: 3 } };

test("no modelOptions, or only other vendors' keys, leave the settings' decoding and length", () => {
  assert.deepEqual(settingsWithModelOptions(greedy, undefined), greedy);
  assert.deepEqual(settingsWithModelOptions(sampling, { reasoning_effort: 'high', stop: ['\n'], presence_penalty: 0.5 }), sampling);
  assert.deepEqual(settingsWithModelOptions(sampling, { temperature: null, top_p: undefined }), sampling);
});

test('max_tokens or maxTokens shortens the answer, up to the maxOutputTokens the models list', () => {
  assert.equal(settingsWithModelOptions(greedy, { max_tokens: 12 }).maxNewTokens, 12);
  assert.equal(settingsWithModelOptions(greedy, { maxTokens: 12 }).maxNewTokens, 12);
  // More than kvsteer.maxNewTokens would overrun the room the input budget left for the answer.
  assert.equal(settingsWithModelOptions(greedy, { max_tokens: 4096 }).maxNewTokens, 256);
});

test('a temperature above 0, top_p, top_k or seed samples, taking the rest from the settings when they sample', () => {
  assert.deepEqual(settingsWithModelOptions(greedy, { temperature: 0.2 }).decoding, { kind: 'sample', temperature: 0.2, topP: 0.9, topK: 50, seed: 0 });
  assert.deepEqual(settingsWithModelOptions(greedy, { seed: 42 }).decoding, { kind: 'sample', temperature: 0.6, topP: 0.9, topK: 50, seed: 42 });
  assert.deepEqual(settingsWithModelOptions(sampling, { top_p: 0.5, topK: 5 }).decoding, { kind: 'sample', temperature: 0.8, topP: 0.5, topK: 5, seed: 3 });
  assert.deepEqual(settingsWithModelOptions(sampling, { topP: 0.5, top_k: 5, temperature: 1, seed: 9 }).decoding, { kind: 'sample', temperature: 1, topP: 0.5, topK: 5, seed: 9 });
  // Temperature 0 is greedy decoding, whatever else is given.
  assert.deepEqual(settingsWithModelOptions(sampling, { temperature: 0, top_p: 0.5 }).decoding, { kind: 'greedy' });
});

test('an invalid option is refused naming the key, its range and the value', () => {
  const refused = (options: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => settingsWithModelOptions(greedy, options), (e) => isKvsteerError(e) && e.code === 'INVALID_ARGUMENT' && re.test(e.message));
  refused({ temperature: NaN }, /^modelOptions\.temperature must be a number from 0 to 5 \(is NaN\)$/);
  refused({ temperature: -0.1 }, /modelOptions\.temperature must be a number from 0 to 5 \(is -0\.1\)/);
  refused({ temperature: '0.7' }, /modelOptions\.temperature must be a number from 0 to 5 \(is "0\.7"\)/);
  refused({ top_p: 1.5 }, /modelOptions\.top_p must be a number from 0 to 1 \(is 1\.5\)/);
  refused({ topP: Infinity }, /modelOptions\.topP must be a number from 0 to 1 \(is Infinity\)/);
  refused({ top_k: 2.5 }, /modelOptions\.top_k must be an integer of at least 0 \(is 2\.5\)/);
  refused({ seed: -1 }, /modelOptions\.seed must be an integer from 0 to 4294967295 \(is -1\)/);
  refused({ max_tokens: 0 }, /modelOptions\.max_tokens must be an integer of at least 1 \(is 0\)/);
  refused({ maxTokens: 10.5 }, /modelOptions\.maxTokens must be an integer of at least 1 \(is 10\.5\)/);
  refused({ max_tokens: 10, maxTokens: 20 }, /modelOptions\.max_tokens \(10\) and maxTokens \(20\) differ; give one/);
  assert.equal(settingsWithModelOptions(greedy, { max_tokens: 10, maxTokens: 10 }).maxNewTokens, 10);
});
