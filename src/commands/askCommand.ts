/**
 * "Ask with reasoning steering": the editor selection is the question when there is one, else an
 * input box asks for it; the answers appear side by side in the webview, which can insert one into
 * that editor.
 */
import * as vscode from 'vscode';
import { COMMANDS } from '../ids';
import { ServiceHost } from '../service/serviceHost';
import { CompareSession } from './compareSession';

export function registerAskCommand(context: vscode.ExtensionContext, host: ServiceHost): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.ask, async () => {
      const editor = vscode.window.activeTextEditor;
      const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).trim() : '';
      const question =
        selected ||
        (await vscode.window.showInputBox({
          title: 'Ask with reasoning steering',
          prompt: 'The local model answers twice: as it is, and with its KV cache steered towards step-by-step reasoning',
          placeHolder: 'e.g. Why do ice cubes float in water?',
          ignoreFocusOut: true,
        }))?.trim();
      if (!question) return;
      // "Insert" in the view puts an answer after the selection, or at the cursor of a typed question's editor.
      const target = editor && { uri: editor.document.uri, position: selected ? editor.selection.end : editor.selection.active, afterSelection: !!selected, viewColumn: editor.viewColumn };
      await CompareSession.show(host, context.extensionUri, question, target);
    }),
  );
}
