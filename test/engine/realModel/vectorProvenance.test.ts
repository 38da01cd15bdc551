/**
 * The shipped vectors against the real SmolLM2-135M-Instruct GGUF: loaded the default way, they
 * are the model they were extracted on (no note); marked as extracted on the base SmolLM2-135M,
 * the same shape and tokenizer, they still fit but get a note naming both models.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../../src/engine/model/loadModel';
import { checkVectorFitsModel, vectorModelNote } from '../../../src/engine/steering/steeringVector';
import { loadVector } from '../../../src/engine/steering/vectorFile';
import { readManifest } from '../../../src/engine/steering/vectorManifest';
import { loadRealModel, realGguf, realModelSkip } from '../../support/models';
import { repoRoot } from '../../support/paths';

const vectorsDir = path.join(repoRoot, 'vectors');

test('the shipped vectors give no note with the default model', { skip: realModelSkip }, async () => {
  const m = await loadRealModel();
  const entries = readManifest(vectorsDir).vectors;
  assert.ok(entries.length >= 2);
  for (const e of entries) {
    const v = loadVector(path.join(vectorsDir, e.file));
    checkVectorFitsModel(v, m);
    assert.equal(vectorModelNote(v, m), undefined, e.id);
  }
});

test('a shipped vector marked as extracted on the base model fits the instruct model, with a note', { skip: realModelSkip }, async () => {
  const m = await loadRealModel();
  const v = loadVector(path.join(vectorsDir, 'smollm2-135m-reasoning.safetensors'));
  v.meta.model = { ...v.meta.model, name: 'SmolLM2-135M', id: 'SmolLM2-135M', sha256: '0'.repeat(64) };
  checkVectorFitsModel(v, m);
  assert.match(
    vectorModelNote(v, m) ?? '',
    /^steering vector "smollm2-135m-reasoning" was extracted on SmolLM2-135M \(GGUF sha256 000000000000…\), not on the loaded SmolLM2-135M-Instruct\.Q4_1 \(GGUF sha256 b179c9523d0e…\);/,
  );
});

test('the shipped vectors give no note with a renamed copy of the default model (they record its sha256)', { skip: realModelSkip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-renamed-'));
  try {
    // A link under another name, as an Ollama store or a download folder names the same file.
    const renamed = path.join(dir, 'smollm2-instruct-q41.gguf');
    fs.symlinkSync(realGguf, renamed);
    const m = await loadModel(renamed, { threads: 1 });
    try {
      assert.equal(m.id, 'smollm2-instruct-q41');
      for (const e of readManifest(vectorsDir).vectors) {
        const v = loadVector(path.join(vectorsDir, e.file));
        assert.equal(v.meta.model.sha256, m.sha256, `${e.id} records the GGUF's sha256`);
        assert.equal(vectorModelNote(v, m), undefined, e.id);
      }
    } finally {
      await m.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
