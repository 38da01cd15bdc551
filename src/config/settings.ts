/**
 * Reads the `kvsteer.*` settings through one typed accessor (validation lives in settingsSchema.ts).
 * Read on every request, so a change takes effect on the next one without a reload.
 */
import * as vscode from 'vscode';
import { SETTINGS_SECTION } from '../ids';
import { SettingsResult, validateSettings } from './settingsSchema';

export function readSettings(): SettingsResult {
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return validateSettings((key) => cfg.get(key));
}
