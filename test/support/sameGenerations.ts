/** Two ways of running the same model (graph layouts, threads) must answer alike, token for token. */
import * as assert from 'node:assert/strict';
import type { LoadedModel } from '../../src/engine/model/loadModel';
import { generate } from '../../src/engine/generation/generate';
import { generateSteered } from '../../src/engine/steering/applySteering';
import { fakeVector } from './fakeVector';

/**
 * Asserts `model` gives `reference`'s greedy and steered tokens (24 of each, a fake vector at
 * c_k 2, c_v 8) for one chat prompt; returns the reference's, for further checks.
 */
export async function assertSameGenerations(model: LoadedModel, reference: LoadedModel): Promise<{ greedy: number[]; steered: number[] }> {
  const messages = [{ role: 'user' as const, content: 'tell me about the sea' }];
  const promptIds = reference.tokenizer.encode(reference.tokenizer.applyChatTemplate(messages));
  const greedy = (await generate(reference, { promptIds, maxNewTokens: 24 })).tokenIds;
  assert.deepEqual((await generate(model, { promptIds, maxNewTokens: 24 })).tokenIds, greedy, 'greedy tokens');
  const vector = fakeVector(reference, 3);
  const steer = (x: LoadedModel) => generateSteered(x, { messages, vector, strength: { cK: 2, cV: 8 }, maxNewTokens: 24 });
  const steered = (await steer(reference)).tokenIds;
  assert.deepEqual((await steer(model)).tokenIds, steered, 'steered tokens');
  return { greedy, steered };
}
