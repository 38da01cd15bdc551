/**
 * Reads the `kvsteer.*` settings through one typed accessor (validation lives in settingsSchema.ts;
 * which scope counts, in settingScopes.ts). Read on every request, so a change takes effect on the
 * next one without a reload.
 */
import * as vscode from 'vscode';
import { SETTINGS_SECTION } from '../ids';
import { SettingsResult, validateSettings } from './settingsSchema';
import { isRestrictedSetting, pickTarget, userOrDefaultValue } from './settingScopes';
import { resolveInWorkspace, restrictedPathProblem } from './workspacePaths';

export function readSettings(): SettingsResult {
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const trusted = vscode.workspace.isTrusted;
  // Relative model and vector paths are the workspace's; in Restricted Mode they are refused, as a
  // relative value of the user's could reach a file the untrusted folder planted.
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  const folder = trusted && root?.scheme === 'file' ? root.fsPath : undefined;
  const problems: string[] = [];
  const result = validateSettings((key) => {
    const value = trusted || !isRestrictedSetting(key) ? cfg.get(key) : userOrDefaultValue(cfg.inspect(key));
    if ((key !== 'model' && key !== 'vector') || typeof value !== 'string') return value;
    const problem = trusted ? undefined : restrictedPathProblem(key, value);
    if (problem) problems.push(problem);
    return resolveInWorkspace(key, value, folder);
  });
  return problems.length ? { ok: false, errors: [...problems, ...(result.ok ? [] : result.errors)] } : result;
}

/**
 * The writes kvsteer started and VS Code has not finished. Writing a setting takes a moment (seconds
 * on a remote or busy machine); a request made meanwhile, such as asking right after Select
 * model…, must see the new value, not load the old model.
 */
let pendingWrites: Promise<unknown> = Promise.resolve();

/** readSettings, once the setting writes kvsteer started have landed: what every request reads. */
export async function readSettingsAfterWrites(): Promise<SettingsResult> {
  await pendingWrites;
  return readSettings();
}

/** Writes a value the user picked where it will count (see `pickTarget`). */
export async function updatePickedSetting(key: string, value: string): Promise<void> {
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const target = pickTarget(key, (k) => cfg.inspect(k), vscode.workspace.isTrusted) === 'workspace' ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  const write = Promise.resolve(cfg.update(key, value, target));
  pendingWrites = Promise.allSettled([pendingWrites, write]);
  await write;
}
