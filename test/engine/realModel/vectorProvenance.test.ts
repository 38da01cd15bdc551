/**
 * The shipped vectors against the real SmolLM2-135M-Instruct GGUF: loaded the default way, they
 * are the model they were extracted on (no note); marked as extracted on the base SmolLM2-135M,
 * the same shape and tokenizer, they still fit but get a note naming both models.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { checkVectorFitsModel, vectorModelNote } from '../../../src/engine/steering/steeringVector';
import { loadVector } from '../../../src/engine/steering/vectorFile';
import { readManifest } from '../../../src/engine/steering/vectorManifest';
import { loadRealModel, realModelSkip } from '../../support/models';
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
  v.meta.model = { ...v.meta.model, name: 'SmolLM2-135M', id: 'SmolLM2-135M' };
  checkVectorFitsModel(v, m);
  assert.match(vectorModelNote(v, m) ?? '', /^steering vector "smollm2-135m-reasoning" was extracted on SmolLM2-135M, not on the loaded SmolLM2-135M-Instruct\.Q4_1;/);
});
