/**
 * Q4_K weights (the bulk of llama.cpp's Q4_K_M files) stay 4-bit in the imported graph and are
 * applied exactly: a tiny random model with Q4_K blocks against the independent reference forward,
 * and a graph well under half the size of the same model with f32 blocks. Q6_K token embeddings
 * are gathered from 8-bit blocks, exactly.
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
import { onnxFolderBytes } from '../../support/models';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-q4k-'));
const size = { hidden: 256, ff: 512 };
const gguf = path.join(dir, 'tiny-q4k.gguf');
writeTinyRandomGguf(gguf, { matrixType: GgmlType.Q4_K, size });
const modelP = loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
after(async () => (await modelP).dispose());
const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];

test('a model with Q4_K blocks computes what the reference computes from the decoded blocks', async () => {
  const m = await modelP;
  const f = openGguf(gguf);
  assert.equal(f.tensors.get('blk.0.ffn_down.weight')!.type, GgmlType.Q4_K);
  const ref = new ReferenceLlama(f).forward(tokens);
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
  const scale = Math.max(1, ...Array.from(ref.logits, Math.abs));
  assert.ok(maxAbsDiff(r.logits, ref.logits) < 1e-5 * scale, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)} (logits up to ${scale})`);
});

test('Q4_K blocks stay 4-bit in the imported graph', async () => {
  const m = await modelP;
  const twinFile = path.join(dir, 'tiny-f32.gguf');
  writeTinyRandomGguf(twinFile, { matrixType: GgmlType.F32, size });
  const twin = await loadModel(twinFile, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const q4k = onnxFolderBytes(m.folder), f32 = onnxFolderBytes(twin.folder);
  await twin.dispose();
  // Blocks are ~80% of the f32 graph here (the rest: f32 embedding, head and RoPE tables).
  assert.ok(q4k < 0.4 * f32, `Q4_K graph ${q4k} bytes, the same model with f32 blocks ${f32}`);
});

test('a Q6_K token embedding is gathered as 8-bit blocks of 16, exactly', async () => {
  const file = path.join(dir, 'tiny-q6k-embd.gguf');
  writeTinyRandomGguf(file, { matrixType: GgmlType.F32, embeddingType: GgmlType.Q6_K, size, seed: 11 });
  const m = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  try {
    const f = openGguf(file);
    assert.equal(f.tensors.get('token_embd.weight')!.type, GgmlType.Q6_K);
    const ref = new ReferenceLlama(f).forward(tokens);
    const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
    const scale = Math.max(1, ...Array.from(ref.logits, Math.abs));
    assert.ok(maxAbsDiff(r.logits, ref.logits) < 1e-5 * scale, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)}`);
    const graph = fs.readFileSync(path.join(m.folder, 'onnx', 'model.onnx'));
    assert.ok(graph.includes('GatherBlockQuantized'), 'the embedding is gathered from 8-bit blocks');
  } finally {
    await m.dispose();
  }
});
