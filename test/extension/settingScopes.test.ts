/**
 * Which scope of a kvsteer setting counts in a workspace that is not trusted, and where the
 * user's picks are written.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { InspectedSetting, isRestrictedSetting, pickTarget, restrictedModeMessage, userOrDefaultValue } from '../../src/config/settingScopes';

const inspectFrom = (values: Record<string, InspectedSetting>) => (key: string) => values[key];

test('the model and vector settings are restricted; strength, decoding and budget are not', () => {
  assert.ok(isRestrictedSetting('model'));
  assert.ok(isRestrictedSetting('vector'));
  for (const key of ['strength.values', 'maxNewTokens', 'decoding.mode', 'threads', 'repeatPenalty.penalty']) assert.equal(isRestrictedSetting(key), false, key);
});

test("an untrusted workspace's value never counts: the user's does, else the default", () => {
  assert.equal(userOrDefaultValue({ defaultValue: 'd', globalValue: 'user', workspaceValue: '/repo/planted.gguf', workspaceFolderValue: '/repo/f.gguf' }), 'user');
  assert.equal(userOrDefaultValue({ defaultValue: 'd', workspaceValue: '/repo/planted.gguf' }), 'd');
  assert.equal(userOrDefaultValue(undefined), undefined);
});

test('the Restricted Mode log line names the settings set aside', () => {
  assert.equal(
    restrictedModeMessage('kvsteer'),
    "Restricted Mode: kvsteer.model and kvsteer.vector come from your user settings only (a workspace's values name files to load); trust the workspace to use its own.",
  );
});

test('a pick is written where it counts: to a trusted workspace that sets the key, else to the user settings', () => {
  const workspaceSets = inspectFrom({ model: { defaultValue: 'd', globalValue: 'g', workspaceValue: 'w' } });
  const userSets = inspectFrom({ model: { defaultValue: 'd', globalValue: 'g' } });
  assert.equal(pickTarget('model', workspaceSets, true), 'workspace');
  assert.equal(pickTarget('model', userSets, true), 'global');
  // Never into the files of a workspace the user has not trusted.
  assert.equal(pickTarget('model', workspaceSets, false), 'global');
});
