/**
 * "Extract steering vector from examples…": the user takes kvsteer's own reasoning examples (the
 * set the shipped SmolLM2 vector was made from, with its recipe: so a model without a shipped
 * vector gets one without any file of the user's) or picks a JSONL of {question, steps, answer};
 * extraction runs on the configured model behind a cancellable progress notification, and the
 * vector is saved (atomically) into the extension's global storage, listed in its manifest and
 * offered for selection. The name, the examples and the manifest are checked before the model
 * loads; a name the user already has is replaced only once confirmed.
 */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS, SETTINGS } from '../ids';
import { readSettingsAfterWrites, updatePickedSetting } from '../config/settings';
import { engine } from '../service/engine';
import { ServiceHost } from '../service/serviceHost';
import { isCancellation } from '../engine/util/errors';

export function registerExtractCommand(context: vscode.ExtensionContext, host: ServiceHost): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.extractVector, async () => {
      const read = await readSettingsAfterWrites();
      if (!read.ok) return void vscode.window.showErrorMessage(`KV Steer settings: ${read.errors.join('; ')}`);
      const source = await vscode.window.showQuickPick(
        [
          { label: "$(book) kvsteer's reasoning examples", description: '96 items, with the demonstrations per pair the shipped vector was made with', bundled: true },
          { label: '$(file) Choose a JSONL file…', description: 'one {question, steps, answer} per line', bundled: false },
        ],
        { title: 'KV Steer: examples to extract a steering vector from' },
      );
      if (!source) return;
      const picked = source.bundled
        ? undefined
        : (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Reasoning examples (JSONL)': ['jsonl'] }, title: 'Examples: one {question, steps, answer} per line' }))?.[0]?.fsPath;
      if (!source.bundled && !picked) return;
      // The bundled examples' file and recipe live in the engine, reached only through its lazy loader.
      const { BUNDLED_EXAMPLES, DEFAULT_DEMOS, parseReasoningItems, checkEnoughItems, readManifest, createSteeringVector, saveListedVector } = await engine();
      // For kvsteer's own examples the vector is named after the model it is made for.
      const base = (picked ? path.basename(picked, '.jsonl') : `${path.basename(read.settings.model.replace(/^ollama:/, '')).replace(/\.gguf$/i, '')}-reasoning`).replace(/[^\w.-]+/g, '-');
      let shipped: Set<string>;
      try {
        shipped = new Set(readManifest(host.shippedVectorDir).vectors.map((e) => e.id));
      } catch (e) {
        return void vscode.window.showErrorMessage((e as Error).message);
      }
      const name = (await vscode.window.showInputBox({ prompt: 'Name of the new steering vector', value: base, validateInput: (v) => vectorNameProblem(v, shipped) }))?.trim();
      if (!name) return;
      const file = picked ?? path.join(host.shippedVectorDir, 'datasets', BUNDLED_EXAMPLES.file);
      const demos = source.bundled ? BUNDLED_EXAMPLES.demos : DEFAULT_DEMOS;
      let text: string;
      let items;
      let replaces: boolean;
      // All checked before the model loads (a download, a GGUF import) and the extraction's minutes.
      try {
        text = fs.readFileSync(file, 'utf8');
        items = parseReasoningItems(text, file);
        checkEnoughItems(items, demos, file);
        // The manifest the vector is listed in must be readable, or the vector would be saved unlisted.
        const ids = readManifest(host.userVectorDir).vectors.map((e) => e.id);
        // On macOS and Windows "Mine" and "mine" name one file: saving one would overwrite the other.
        const twin = ids.find((id) => id !== name && id.toLowerCase() === name.toLowerCase());
        if (twin) throw new Error(`A steering vector "${twin}" exists; "${name}" differs from it only in case, and the two would share one file on macOS and Windows. Choose another name, or "${twin}" to replace it.`);
        replaces = ids.includes(name);
      } catch (e) {
        return void vscode.window.showErrorMessage((e as Error).message);
      }
      if (replaces) {
        const answer = await vscode.window.showWarningMessage(`A steering vector "${name}" exists. Replace it with one extracted from ${path.basename(file)}?`, { modal: true }, 'Replace');
        if (answer !== 'Replace') return;
      }
      try {
        const saved = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `KV Steer: extracting "${name}"`, cancellable: true },
          async (progress, token) => {
            const abort = new AbortController();
            token.onCancellationRequested(() => {
              // Logged so a slow stop can be told apart from a cancel that never arrived.
              host.log.info(`Extraction of ${name}: cancel requested`);
              abort.abort();
            });
            let last = 0;
            return host.service.run(read.settings, { needVector: false, signal: abort.signal, activity: 'extracting', onLoad: (p) => progress.report({ message: p.message }) }, async (model) => {
              const vector = await createSteeringVector(model, items, {
                name,
                datasetName: file,
                datasetText: text,
                // An offset token set by hand is the one this vector is meant for; else "\n".
                offsetToken: read.settings.offsetToken ?? undefined,
                signal: abort.signal,
                demos,
                onProgress: (done, total) => {
                  progress.report({ message: `${done}/${total} pairs`, increment: ((done - last) / total) * 100 });
                  last = done;
                },
              });
              return saveListedVector(host.userVectorDir, name, `${name}.safetensors`, vector);
            });
          },
        );
        host.log.info(`Extracted steering vector ${name} → ${saved}`);
        const use = await vscode.window.showInformationMessage(`Steering vector "${name}" saved.`, 'Use it now');
        if (use) await updatePickedSetting(SETTINGS.vector, name);
      } catch (e) {
        const message = (e as Error).message;
        if (isCancellation(e)) {
          // The user's own choice: said plainly, not as an error; nothing was written.
          host.log.info(`Extraction of ${name} cancelled`);
          void vscode.window.showInformationMessage(`KV Steer: extraction of "${name}" cancelled; nothing was saved.`);
          return;
        }
        host.log.error(`Extraction failed: ${message}`);
        void vscode.window.showErrorMessage(`KV Steer: ${message}`);
      }
    }),
  );
}

/**
 * Why `name` cannot name a new vector, or undefined. An id kvsteer ships would hide the shipped
 * vector (the user's folder is searched first), and a kvsteer.vector value ending in
 * ".safetensors" is read as a file path, never as an id.
 */
export function vectorNameProblem(name: string, shippedIds: ReadonlySet<string>): string | undefined {
  if (!/^[\w.-]+$/.test(name)) return 'Letters, digits, ".", "_" and "-" only';
  if (/\.safetensors$/i.test(name)) return 'Leave out ".safetensors": the name is the id you select the vector by';
  if (shippedIds.has(name)) return `"${name}" is the id of a vector kvsteer ships; choose another name`;
  return undefined;
}
