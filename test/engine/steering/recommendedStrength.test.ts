/**
 * A vector's recommended strength for the way answers are decoded: the plain recommendation, or
 * the one recorded for exactly the repeat penalty and window in use; malformed entries are refused
 * when the vector loads, naming the file.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Recommendation, recommendedStrength } from '../../../src/engine/steering/recommendedStrength';
import { loadVector, saveVector, encodeVector } from '../../../src/engine/steering/vectorFile';
import { loadTinyModel } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { repoRoot } from '../../support/paths';

const rec: Recommendation = { cK: 0, cV: 4, offsetToken: '\n', fromLayer: 1, withRepeatPenalty: [{ penalty: 1.1, lastN: 256, cK: 0.5, cV: 8 }] };

test('the plain recommendation holds unless the exact penalty and window of a recorded one are in use', () => {
  assert.deepEqual(recommendedStrength(rec), { cK: 0, cV: 4 });
  assert.deepEqual(recommendedStrength(rec, { penalty: 1, lastN: 256 }), { cK: 0, cV: 4 });
  assert.deepEqual(recommendedStrength(rec, { penalty: 1.1, lastN: 256 }), { cK: 0.5, cV: 8, forPenalty: { penalty: 1.1, lastN: 256 } });
  // Measured at 256 tokens only: Ollama's default window (64) looped more at c_v 6 and 8.
  assert.deepEqual(recommendedStrength(rec, { penalty: 1.1, lastN: 64 }), { cK: 0, cV: 4 });
  assert.deepEqual(recommendedStrength(rec, { penalty: 1.2, lastN: 256 }), { cK: 0, cV: 4 });
  assert.deepEqual(recommendedStrength({ ...rec, withRepeatPenalty: undefined }, { penalty: 1.1, lastN: 256 }), { cK: 0, cV: 4 });
});

test("the shipped reasoning vector recommends c_v 4 for plain decoding and c_v 8 with penalty 1.1 over 256 tokens", () => {
  const shipped = loadVector(path.join(repoRoot, 'vectors', 'smollm2-135m-reasoning.safetensors'));
  assert.equal(recommendedStrength(shipped.meta.recommended).cV, 4);
  assert.equal(recommendedStrength(shipped.meta.recommended, { penalty: 1.1, lastN: 256 }).cV, 8);
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'vectors', 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.vectors.find((v: { id: string }) => v.id === 'smollm2-135m-reasoning').recommended, shipped.meta.recommended);
});

test('a vector whose recommendation cannot be applied is refused, naming the file and the entry', async () => {
  const tiny = await loadTinyModel();
  const good = fakeVector(tiny);
  await tiny.dispose();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-rec-'));
  const cases: [Recommendation['withRepeatPenalty'] | 'nan-cv', RegExp][] = [
    [[{ penalty: 3, lastN: 64, cK: 0, cV: 8 }], /withRepeatPenalty\[0\]: the repeat penalty must be a number between 1 \(off\) and 2 \(got 3\)/],
    [[{ penalty: 1.1, lastN: 0.5, cK: 0, cV: 8 }], /withRepeatPenalty\[0\]: the repeat-penalty window must be a whole number/],
    [[{ penalty: 1.1, lastN: 64, cK: 0, cV: 800 }], /withRepeatPenalty\[0\]: the strength must be finite numbers within ±100/],
    [[{ penalty: 1, lastN: 64, cK: 0, cV: 8 }], /withRepeatPenalty\[0\]: penalty 1 is no penalty/],
    ['nan-cv', /the recommended strength must be finite numbers/],
  ];
  try {
    for (const [entries, re] of cases) {
      const v = structuredClone(good);
      if (entries === 'nan-cv') v.meta.recommended.cV = NaN;
      else v.meta.recommended.withRepeatPenalty = entries;
      // Written by hand (saveVector checks too), then read back.
      assert.throws(() => encodeVector(v), re);
      const file = path.join(dir, 'bad.safetensors');
      const meta = JSON.stringify(v.meta);
      const bytes = Buffer.from(encodeVector(good));
      const okMeta = JSON.stringify(JSON.stringify(good.meta));
      const json = bytes.toString('utf8', 8, 8 + Number(bytes.readBigUInt64LE(0))).replace(okMeta, JSON.stringify(meta));
      let header = json.trimEnd();
      header += ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
      const hb = Buffer.from(header, 'utf8');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(hb.length));
      fs.writeFileSync(file, Buffer.concat([len, hb, bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)))]));
      assert.throws(() => loadVector(file), (e: Error) => e.message.startsWith(file) && re.test(e.message));
    }
    saveVector(path.join(dir, 'good.safetensors'), good);
    assert.deepEqual(loadVector(path.join(dir, 'good.safetensors')).meta.recommended, good.meta.recommended);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
