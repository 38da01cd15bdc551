/**
 * What the kvsteer end-to-end suites need: the packaged .vsix (KVSTEER_E2E_VSIX, set by
 * npm run test:e2e), the fetched model, and what test/e2e/setup.sh installs. Without them a suite
 * skips with the reason, unless KVSTEER_E2E_REQUIRED=1, which makes a missing one a failure.
 */
import * as fs from 'node:fs';
import { findServerInstall } from './vscodeServer';
import { realGguf } from '../support/models';

export const vsix = process.env.KVSTEER_E2E_VSIX;

/** Why the suites cannot run here (a skip reason), or false when they can. Throws when required. */
export function missingPrerequisite(): string | false {
  const reason: string | false = !vsix
    ? 'KVSTEER_E2E_VSIX is not set (run npm run test:e2e)'
    : !fs.existsSync(vsix)
      ? `KVSTEER_E2E_VSIX=${vsix} does not exist`
      : !fs.existsSync(realGguf)
        ? `${realGguf} is missing (npm run model:fetch)`
        : findServerInstall().skip;
  if (reason && process.env.KVSTEER_E2E_REQUIRED === '1') throw new Error(`end-to-end prerequisites missing: ${reason}`);
  return reason;
}
