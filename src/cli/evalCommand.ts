/** `kvsteer eval`: placeholder until the evaluation harness lands. */
import { KvsteerError } from '../engine/util/errors';

export async function runEvalCommand(_argv: string[]): Promise<number> {
  throw new KvsteerError('INVALID_ARGUMENT', 'kvsteer eval is not available yet');
}
