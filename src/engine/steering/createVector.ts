/**
 * Builds a complete SteeringVector from a reasoning dataset: pairs, extraction, and the metadata
 * that records where it came from (dataset digest, demos, pairs, seed) and how to apply it.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { LoadedModel } from '../model/loadModel';
import { KVSTEER_VERSION } from '../version';
import { DEFAULT_DEMOS, PairOptions, ReasoningItem, buildContrastivePairs } from './contrastivePairs';
import { ExtractOptions, extractDirections } from './extract';
import { SteeringVector, modelFingerprint } from './steeringVector';
import { offsetTokenId } from './applySteering';

export interface CreateVectorOptions extends PairOptions, ExtractOptions {
  name: string;
  description?: string;
  /** Dataset file name (recorded) and its raw text (digested). */
  datasetName: string;
  datasetText: string;
  /** Recommended strengths recorded in the file (default c_k 0, c_v 6: the paper's SmolLM2 setting). */
  recommendedCK?: number;
  recommendedCV?: number;
  offsetToken?: string;
}

export async function createSteeringVector(model: LoadedModel, items: ReasoningItem[], opts: CreateVectorOptions): Promise<SteeringVector> {
  const demos = opts.demos ?? DEFAULT_DEMOS;
  const pairsN = opts.pairs ?? items.length;
  const seed = opts.seed ?? 0;
  const selection = opts.selection ?? 'random';
  // Checked before the extraction's minutes: a vector recording an unusable offset token is no use.
  offsetTokenId(model, opts.offsetToken ?? '\n');
  const pairs = buildContrastivePairs(items, model.tokenizer, { demos, pairs: pairsN, seed, system: opts.system, selection });
  const { keys, values, hidden } = await extractDirections(model, pairs, opts);
  return {
    keys,
    values,
    hidden,
    meta: {
      format: 'kvsteer-vector/1',
      name: opts.name,
      description: opts.description,
      model: { name: model.name, id: model.id, ...(model.sha256 ? { sha256: model.sha256 } : {}), fingerprint: modelFingerprint(model) },
      extraction: {
        dataset: path.basename(opts.datasetName),
        datasetDigest: crypto.createHash('sha256').update(opts.datasetText).digest('hex'),
        items: items.length,
        pairs: pairsN,
        demos,
        seed,
        selection,
        template: opts.system ? 'chat template, custom system prompt' : "chat template, the template's default system prompt",
        position: 'last-token',
      },
      recommended: { cK: opts.recommendedCK ?? 0, cV: opts.recommendedCV ?? 6, offsetToken: opts.offsetToken ?? '\n', fromLayer: 1 },
      kvsteerVersion: KVSTEER_VERSION,
      createdAt: new Date().toISOString(),
    },
  };
}
