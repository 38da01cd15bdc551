/**
 * "Select model…" and "Select steering vector…": quick picks that write the `kvsteer.model` and
 * `kvsteer.vector` settings (the next request uses them; the old model is freed), and "Free model
 * memory", which unloads the model before its keep-alive time is up.
 */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS, SETTINGS } from '../ids';
import { DEFAULT_SETTINGS } from '../config/settingsSchema';
import { readSettings, updatePickedSetting } from '../config/settings';
import { engine } from '../service/engine';
import { ServiceHost } from '../service/serviceHost';

type Pick = vscode.QuickPickItem & { run: () => Promise<string | undefined> };

export function registerModelCommands(context: vscode.ExtensionContext, host: ServiceHost): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.selectModel, async () => {
      const read = readSettings();
      const current = read.ok ? read.settings.model : DEFAULT_SETTINGS.model;
      const sources: Pick[] = [
        { label: '$(file) Choose a .gguf file…', description: 'Llama, Qwen2, Qwen3 or Gemma 3 architecture (SmolLM2, Llama, Qwen2.5, Qwen3, Gemma 3, Mistral, TinyLlama…)', run: async () => (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF model': ['gguf'] } }))?.[0]?.fsPath },
        { label: '$(folder) Choose a model folder…', description: 'Hugging Face layout with onnx/model.onnx', run: async () => (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false }))?.[0]?.fsPath },
        {
          label: '$(cloud-download) Enter a Hugging Face model id…',
          description: 'downloaded once into the extension storage',
          run: async () => (await vscode.window.showInputBox({ prompt: 'Hugging Face model id with ONNX weights', value: DEFAULT_SETTINGS.model, validateInput: (v) => (/^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : 'Use the form owner/name') }))?.trim(),
        },
      ];
      // Models the user already has from Ollama or LM Studio, listed by the names those tools use.
      const picks = (async (): Promise<Pick[]> => {
        const { findLocalGgufs } = await engine();
        const local = findLocalGgufs().filter((m) => !m.unsupported);
        if (!local.length) return sources;
        const found = local.map((m): Pick => ({
          label: `$(database) ${m.name}`,
          description: `${m.source} · ${m.architecture} · ${(m.bytes / 1e6).toFixed(0)} MB`,
          detail: m.path,
          // By name for Ollama: the setting then follows the model when `ollama pull` updates it.
          run: async () => (m.source === 'Ollama' ? `ollama:${m.name}` : m.path),
        }));
        return [...found, { label: '', kind: vscode.QuickPickItemKind.Separator, run: async () => undefined }, ...sources];
      })();
      const chosen = await vscode.window.showQuickPick(picks, { title: `KV Steer model (now: ${current})`, placeHolder: 'A model you have, or where the model comes from' });
      const value = await chosen?.run();
      if (!value) return;
      await updatePickedSetting(SETTINGS.model, value);
      host.log.info(`Model set to ${value}`);
    }),
    vscode.commands.registerCommand(COMMANDS.selectVector, async () => {
      const { readManifest } = await engine();
      const entries = [host.userVectorDir, host.shippedVectorDir].flatMap((dir) =>
        readManifest(dir).vectors.map((e): Pick => ({
          label: e.id,
          description: `${e.name} · for ${e.model} · c_v ${e.recommended.cV}`,
          detail: e.description,
          run: async () => e.id,
        })),
      );
      entries.push({
        label: '$(file) Choose a .safetensors vector file…',
        run: async () => (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Steering vector': ['safetensors'] } }))?.[0]?.fsPath,
      });
      const chosen = await vscode.window.showQuickPick(entries, { title: 'KV Steer steering vector', placeHolder: 'Vectors are checked against the model when it loads' });
      const value = await chosen?.run();
      if (!value) return;
      if (value.endsWith('.safetensors') && !fs.existsSync(value)) return void vscode.window.showErrorMessage(`${path.basename(value)} does not exist`);
      await updatePickedSetting(SETTINGS.vector, value);
      host.log.info(`Steering vector set to ${value}`);
    }),
    vscode.commands.registerCommand(COMMANDS.showLog, () => host.log.show()),
    vscode.commands.registerCommand(COMMANDS.freeModel, async () => {
      const freed = await host.service.freeModel();
      void vscode.window.setStatusBarMessage(freed ? `KV Steer: freed ${freed}; the next request loads it again` : 'KV Steer: no model is loaded', 5000);
    }),
  );
}
