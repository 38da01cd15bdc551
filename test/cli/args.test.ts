/** Flag parsing shared by `ask` and `chat`: what each sampling flag accepts. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodingFromFlags, num } from '../../src/cli/args';
import { Sampler } from '../../src/engine/generation/sampler';
import { KvsteerError } from '../../src/engine/util/errors';

test('a --seed past 32 bits is refused instead of silently giving the answer of another seed', () => {
  // The sampler's generator keeps 32 bits of state: 2^32 would draw exactly what seed 0 draws.
  const draws = (seed: number) => {
    const s = new Sampler({ kind: 'sample', temperature: 1, topP: 1, topK: 0, seed });
    return Array.from({ length: 8 }, () => s.next(Float32Array.from([0, 0.1, 0.2, 0.3, 0.4, 0.5])));
  };
  assert.deepEqual(draws(2 ** 32), draws(0));
  for (const seed of ['4294967296', '1e20']) {
    assert.throws(() => decodingFromFlags({ seed }), (e: unknown) => e instanceof KvsteerError && e.code === 'INVALID_ARGUMENT' && /--seed/.test(e.message), seed);
  }
  assert.equal((decodingFromFlags({ seed: '4294967295' }) as { seed: number }).seed, 4294967295);
  assert.equal((decodingFromFlags({ seed: '0' }) as { seed: number }).seed, 0);
});

test('number flags take decimal numbers only: hexadecimal, binary, Infinity and empty values are refused naming the flag (before: --cv 0x10 was 16)', () => {
  const cv = (raw: string) => num({ cv: raw }, 'cv', 6, { min: -100, max: 100 });
  for (const raw of ['0x10', '0b1', '0o7', 'Infinity', '-Infinity', '', ' ', '1e', 'e2', '.', '1_000', '--5']) {
    assert.throws(() => cv(raw), (e: unknown) => e instanceof KvsteerError && e.code === 'INVALID_ARGUMENT' && e.message === `--cv must be a finite number in [-100, 100] (got ${JSON.stringify(raw)})`, raw);
  }
  for (const [raw, v] of [['1e2', 100], ['.5', 0.5], [' 5 ', 5], ['-4', -4], ['+3', 3], ['2.', 2], ['1.5E-1', 0.15]] as const) assert.equal(cv(raw), v, raw);
  assert.throws(() => num({ 'top-k': '0x10' }, 'top-k', 50, { integer: true, min: 0 }), /--top-k must be an integer in \[0, ∞\] \(got "0x10"\)/);
});
