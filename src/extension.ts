/**
 * Extension entry point: activate() only registers commands, the chat participant, the language
 * model provider, the status bar and the settings listener. Nothing heavy happens here: the engine
 * (ONNX Runtime, transformers.js) is loaded on the first request.
 */
import * as vscode from 'vscode';
import { SETTINGS_SECTION } from './ids';
import { readSettings } from './config/settings';
import { createServiceHost } from './service/serviceHost';
import { registerAskCommand } from './commands/askCommand';
import { registerModelCommands } from './commands/modelCommands';
import { registerExtractCommand } from './commands/extractCommand';
import { registerChatParticipant } from './chat/participant';
import { registerStatusBar } from './status/statusBar';
import { registerLanguageModelProvider } from './languageModel/provider';
import { registerWorkspaceTrust } from './config/workspaceTrust';

export function activate(context: vscode.ExtensionContext): void {
  const t0 = performance.now();
  const host = createServiceHost(context);
  registerAskCommand(context, host);
  registerModelCommands(context, host);
  registerExtractCommand(context, host);
  registerChatParticipant(context, host);
  registerLanguageModelProvider(context, host);
  registerStatusBar(context, host);
  registerWorkspaceTrust(context, host);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SETTINGS_SECTION)) return;
      const read = readSettings();
      if (read.ok) void host.service.settingsChanged(read.settings);
      else host.log.warn(`Settings: ${read.errors.join('; ')}`);
    }),
  );
  host.log.info(`KV Steer activated in ${(performance.now() - t0).toFixed(1)} ms`);
}

export function deactivate(): void {}
