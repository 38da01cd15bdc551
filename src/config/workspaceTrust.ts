/**
 * Workspace trust and kvsteer's settings: says in the log that an untrusted workspace's model and
 * vector settings are set aside, and applies them as soon as the user trusts the workspace (no
 * reload: the loaded model is freed if the setting changed, and the next request reads them).
 */
import * as vscode from 'vscode';
import { SETTINGS_SECTION } from '../ids';
import { ServiceHost } from '../service/serviceHost';
import { readSettings } from './settings';
import { restrictedModeMessage } from './settingScopes';

export function registerWorkspaceTrust(context: vscode.ExtensionContext, host: ServiceHost): void {
  if (!vscode.workspace.isTrusted) host.log.info(restrictedModeMessage(SETTINGS_SECTION));
  context.subscriptions.push(
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      host.log.info('Workspace trusted: its kvsteer settings apply from the next request');
      const read = readSettings();
      if (read.ok) void host.service.settingsChanged(read.settings);
    }),
  );
}
