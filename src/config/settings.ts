/**
 * Reads the `kvsteer.*` settings through one typed accessor (validation lives in settingsSchema.ts;
 * which scope counts, in settingScopes.ts). Read on every request, so a change takes effect on the
 * next one without a reload.
 */
import * as vscode from 'vscode';
import { SETTINGS_SECTION } from '../ids';
import { SettingsResult, validateSettings } from './settingsSchema';
import { isRestrictedSetting, pickTarget, userOrDefaultValue } from './settingScopes';

export function readSettings(): SettingsResult {
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const trusted = vscode.workspace.isTrusted;
  return validateSettings((key) => (trusted || !isRestrictedSetting(key) ? cfg.get(key) : userOrDefaultValue(cfg.inspect(key))));
}

/** Writes a value the user picked where it will count (see `pickTarget`). */
export async function updatePickedSetting(key: string, value: string): Promise<void> {
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const target = pickTarget(key, (k) => cfg.inspect(k), vscode.workspace.isTrusted) === 'workspace' ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await cfg.update(key, value, target);
}
