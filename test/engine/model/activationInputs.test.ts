/**
 * The residual-stream extras of graphs imported by kvsteer: `hidden_states.{l}` outputs expose the
 * stream after each block, and feeding `activation_add.{l}` shifts that stream by exactly the given
 * vector at every position (what activation steering relies on), changing the logits.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadTinyModel } from '../../support/models';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());

test('feeding activation_add.l shifts the residual stream after block l by exactly that vector', async () => {
  const m = await modelP;
  assert.ok(m.backend.supportsActivationSteering);
  const tokens = [1, 40, 41, 42, 43, 2];
  const H = m.config.hiddenSize;
  const add = Float32Array.from({ length: H }, (_, i) => Math.sin(i) * 0.5);
  const plain = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1, hiddenStateLayers: [0, 1] });
  const shifted = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1, hiddenStateLayers: [0], activationAdd: new Map([[0, add]]) });
  const a = plain.hiddenStates.get(0)!, b = shifted.hiddenStates.get(0)!;
  assert.equal(a.length, tokens.length * H);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(b[i] - a[i] - add[i % H]) < 1e-5, `position ${Math.floor(i / H)} dim ${i % H}`);
  let diff = 0;
  for (let i = 0; i < plain.logits.length; i++) diff = Math.max(diff, Math.abs(plain.logits[i] - shifted.logits[i]));
  assert.ok(diff > 1e-3, 'the shift changes the logits');
});
