/**
 * 8-bit weights (Q8_0 blocks of 32; Q6_K, read as 8-bit blocks of 16; Q5_0, Q5_1 and Q5_K, read
 * as 8-bit blocks of 32, Q5_1 and Q5_K with offsets) stay packed in the imported graph and are
 * applied exactly at the default precision, as two 4-bit halves (ONNX Runtime's 8-bit kernel in f32
 * arithmetic is very slow): tiny random models with such blocks against the independent reference
 * forward.
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

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-8bit-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];

for (const [type, embeddingType] of [[GgmlType.Q8_0, GgmlType.Q8_0], [GgmlType.Q6_K, GgmlType.Q6_K], [GgmlType.Q5_0, GgmlType.Q8_0], [GgmlType.Q5_1, GgmlType.Q8_0], [GgmlType.Q5_K, GgmlType.Q8_0]]) {
  const name = GgmlType[type];
  test(`a model with ${name} blocks and a ${GgmlType[embeddingType]} head computes what the reference computes from the decoded blocks`, async () => {
    const gguf = path.join(dir, `tiny-${name}.gguf`);
    writeTinyRandomGguf(gguf, { matrixType: type, embeddingType, size: { hidden: 256, ff: 512 } });
    const f = openGguf(gguf);
    assert.equal(f.tensors.get('blk.0.ffn_down.weight')!.type, type);
    assert.equal(f.tensors.has('output.weight'), false);
    const m = await loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
    try {
      const ref = new ReferenceLlama(f).forward(tokens);
      const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
      // f32 sums in another order than the reference's: the Q5_0 model's logits differ by 2.3e-5 of
      // the largest one even with its blocks decoded to f32 (1.6e-5 packed). A wrong block is O(1).
      const scale = Math.max(1, ...Array.from(ref.logits, Math.abs));
      assert.ok(maxAbsDiff(r.logits, ref.logits) < 3e-5 * scale, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)} (logits up to ${scale})`);
      // Packed, not decoded to f32: the graph is well under half of what f32 blocks would take.
      const onnxBytes = onnxFolderBytes(m.folder);
      const f32Bytes = [...f.tensors.values()].reduce((n, t) => n + 4 * t.elements, 0);
      assert.ok(onnxBytes < 0.5 * f32Bytes, `graph ${onnxBytes} bytes, f32 weights ${f32Bytes}`);
    } finally {
      await m.dispose();
    }
  });
}
