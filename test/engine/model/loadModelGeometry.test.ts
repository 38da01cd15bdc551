/**
 * config.json is checked against the ONNX graph's declared shapes when a model loads: a config
 * that disagrees (vocabulary, kv heads, head width, layer count) is refused naming the file, the
 * field and both values, and the session is released; graphs in optimum's layout and graphs whose
 * metadata declares no shapes still load.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { llamaSpecFromGguf, llamaWeightsFromGguf } from '../../../src/engine/gguf/llamaFromGguf';
import { buildLlamaGraph } from '../../../src/engine/onnx/llamaGraph';
import { OnnxBackend, OrtSessionLike, graphGeometryMismatch } from '../../../src/engine/model/onnxBackend';
import { tinyGgufPath } from '../../support/models';
import { WorkerSession } from '../../../src/engine/model/workerSession';
import { editJsonFile, tinyFolderCopies } from '../../support/modelFolders';

const { tinyP, folderCopy, load } = tinyFolderCopies('kvsteer-geometry-');

/** The tiny folder with config.json fields replaced (undefined deletes one). */
const withConfig = (fields: Record<string, number | undefined>) =>
  folderCopy((d) =>
    editJsonFile(path.join(d, 'config.json'), (c) => {
      for (const [k, v] of Object.entries(fields)) v === undefined ? delete c[k] : (c[k] = v);
    }),
  );

// The tiny model: 2 layers, 4 heads of 16 over hidden 64, 2 kv heads, 288 tokens.
const CASES: { field: string; fields: Record<string, number | undefined>; message: RegExp }[] = [
  { field: 'vocab_size', fields: { vocab_size: 300 }, message: /vocab_size is 300 but onnx\/model\.onnx has 288 as the logits' last dimension/ },
  { field: 'num_key_value_heads', fields: { num_key_value_heads: 4 }, message: /num_key_value_heads is 4 but onnx\/model\.onnx has 2 as dimension 1 of past_key_values\.0\.key/ },
  { field: 'head_dim', fields: { head_dim: 8 }, message: /head_dim is 8 but onnx\/model\.onnx has 16 as dimension 3/ },
  { field: 'head_dim left out', fields: { head_dim: undefined, num_attention_heads: 2 }, message: /head_dim is 32 \(absent, so hidden_size \/ num_attention_heads\) but onnx\/model\.onnx has 16/ },
  { field: 'num_hidden_layers', fields: { num_hidden_layers: 3 }, message: /num_hidden_layers is 3 but onnx\/model\.onnx has 2 layers \(4 past_key_values inputs/ },
];

for (const c of CASES) {
  test(`a config.json whose ${c.field} disagrees with the graph is refused naming both values, and the session is released`, async (t) => {
    const folder = await withConfig(c.fields);
    // Counts releases of onnxruntime-node's sessions, the ones transformers.js creates.
    const release = t.mock.method((ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype, 'release');
    await assert.rejects(load(folder), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
      assert.ok(e.message.startsWith(`${path.join(folder, 'config.json')}: `), e.message);
      assert.match(e.message, c.message);
      return true;
    });
    assert.equal(release.mock.callCount(), 1);
  });
}

test('with the session in a worker thread, a config.json that disagrees with the graph is refused the same way, and the worker is released', async (t) => {
  const folder = await withConfig(CASES[0].fields);
  const release = t.mock.method(WorkerSession.prototype, 'release');
  await assert.rejects(load(folder, { sessionThread: 'worker' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
    assert.ok(e.message.startsWith(`${path.join(folder, 'config.json')}: `), e.message);
    assert.match(e.message, CASES[0].message);
    return true;
  });
  assert.equal(release.mock.callCount(), 1);
});

test('with the session in a worker thread, a corrupt graph is one error naming the file, with no session to release', async (t) => {
  const folder = await folderCopy((d) => fs.writeFileSync(path.join(d, 'onnx', 'model.onnx'), 'not a graph'));
  const release = t.mock.method(WorkerSession.prototype, 'release');
  await assert.rejects(load(folder, { sessionThread: 'worker' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
    assert.ok(e.message.startsWith(`ONNX Runtime cannot open ${path.join(folder, 'onnx', 'model.onnx')}: `), e.message);
    return true;
  });
  // The worker that could not open the graph ended then (WorkerSession.open terminates it).
  assert.equal(release.mock.callCount(), 0);
});

test('a folder holding a graph in optimum layout (present.* outputs) loads and runs', async () => {
  const folder = await folderCopy((d) => {
    for (const f of fs.readdirSync(path.join(d, 'onnx'))) fs.rmSync(path.join(d, 'onnx', f));
    const gguf = openGguf(tinyGgufPath());
    const spec = llamaSpecFromGguf(gguf);
    buildLlamaGraph(spec, llamaWeightsFromGguf(gguf, spec), { cacheOutputs: 'present' }).save(path.join(d, 'onnx'), 'model.onnx');
  });
  const m = await load(folder);
  const r = await m.backend.forward({ tokens: [1, 20, 77], cache: m.backend.emptyCache(), logitsToKeep: 1 });
  assert.equal(r.logits.length, 288);
  assert.equal(r.cache.length, 3);
  await m.dispose();
});

test('a session whose metadata declares no shapes is checked for its layer count only', async () => {
  const m = await tinyP;
  const real = (m.backend as unknown as { session: OrtSessionLike }).session;
  // onnxruntime-node before 1.22 gives names only.
  const namesOnly: OrtSessionLike = { inputNames: real.inputNames, outputNames: real.outputNames, run: (f, o) => real.run(f, o) };
  const wrongShapes = { ...m.config, vocabSize: 300, headDim: 8, numKvHeads: 4 };
  assert.equal(graphGeometryMismatch(real, wrongShapes)?.field, 'vocabSize');
  assert.equal(graphGeometryMismatch(namesOnly, wrongShapes), undefined);
  assert.equal(graphGeometryMismatch(namesOnly, { ...m.config, numLayers: 3 })?.field, 'numLayers');
  const c = m.config;
  const backend = new OnnxBackend(namesOnly, c.numLayers, c.numKvHeads, c.headDim, c.vocabSize, c.hiddenSize);
  const r = await backend.forward({ tokens: [1, 20], cache: backend.emptyCache(), logitsToKeep: 1 });
  assert.equal(r.logits.length, c.vocabSize);
});
