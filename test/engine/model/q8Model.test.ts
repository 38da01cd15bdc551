/**
 * Q8_0 weights (llama.cpp's Q8_0 files) are applied exactly at the default precision, as two 4-bit
 * halves (ONNX Runtime's 8-bit kernel in f32 arithmetic is very slow): a tiny random model with
 * Q8_0 blocks and a Q8_0 tied head against the independent reference forward.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { GgmlType } from '../../../src/engine/gguf/ggmlTypes';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { ReferenceLlama } from '../../support/referenceLlama';
import { maxAbsDiff } from '../../support/arrays';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-q8-'));
const gguf = path.join(dir, 'tiny-q8.gguf');
writeTinyRandomGguf(gguf, { matrixType: GgmlType.Q8_0, embeddingType: GgmlType.Q8_0, size: { hidden: 256, ff: 512 } });
const modelP = loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
after(async () => {
  await (await modelP).dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a model with Q8_0 blocks and head computes what the reference computes from the decoded blocks', async () => {
  const m = await modelP;
  const f = openGguf(gguf);
  assert.equal(f.tensors.get('blk.0.ffn_down.weight')!.type, GgmlType.Q8_0);
  assert.equal(f.tensors.has('output.weight'), false);
  const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];
  const ref = new ReferenceLlama(f).forward(tokens);
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
  const scale = Math.max(1, ...Array.from(ref.logits, Math.abs));
  assert.ok(maxAbsDiff(r.logits, ref.logits) < 1e-5 * scale, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)} (logits up to ${scale})`);
});
