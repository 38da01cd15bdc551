/**
 * Registers the local model with VS Code's language-model API (vendor `kvsteer`), so it appears as
 * "<model> (steered, local)" and "<model> (baseline, local)" in the chat model picker and to
 * `vscode.lm.selectChatModels`. A thin adapter: the work is in languageModelRequests.ts.
 */
import * as vscode from 'vscode';
import { LANGUAGE_MODEL_VENDOR, SETTINGS_SECTION } from '../ids';
import { readSettings, readSettingsAfterWrites } from '../config/settings';
import { DEFAULT_SETTINGS } from '../config/settingsSchema';
import { KVSTEER_VERSION } from '../engine/version';
import { ServiceHost } from '../service/serviceHost';
import { LanguageModelFailure, toLanguageModelFailure } from './languageModelErrors';
import { LanguageModelId, LanguageModelInfo, answerLanguageModelRequest, countMessageTokens, countTokens, languageModelInfos, templateTokens, toChatMessages } from './languageModelRequests';

/** The last model loaded, kept across sessions, so the list names it before the first request. */
const LAST_LOADED_KEY = 'kvsteer.languageModel.lastLoaded';
interface LastLoaded {
  setting: string;
  name: string;
  maxPositions: number;
  /** The template's tokens per prompt (TemplateTokens.perPrompt); absent in a record from before it was kept. */
  promptTokens?: number;
}

export function registerLanguageModelProvider(context: vscode.ExtensionContext, host: ServiceHost): void {
  const changed = new vscode.EventEmitter<void>();
  // The list names the model and its context window once one has loaded for the model setting
  // (remembered, so also before the first request of a later session); a changed setting names
  // the new one from the setting until it loads. Tell VS Code whenever either changes.
  const onState = host.service.onStateChange(() => {
    const m = host.service.loadedModel;
    const setting = host.service.loadedModelSetting;
    // Recorded under the setting the model was loaded for: the setting may already name another.
    if (!m || setting === undefined) return;
    let promptTokens: number | undefined;
    try {
      promptTokens = templateTokens(m.tokenizer).perPrompt;
    } catch {
      // A model without a chat template: the list keeps the estimate; its requests say why they fail.
    }
    const now: LastLoaded = { setting, name: m.name, maxPositions: m.config.maxPositions, promptTokens };
    const last = context.globalState.get<LastLoaded>(LAST_LOADED_KEY);
    if (last?.setting === now.setting && last.name === now.name && last.maxPositions === now.maxPositions && last.promptTokens === now.promptTokens) return;
    void context.globalState.update(LAST_LOADED_KEY, now).then(() => changed.fire());
  });
  const describeModel = (setting: string): LastLoaded | undefined => {
    const last = context.globalState.get<LastLoaded>(LAST_LOADED_KEY);
    return last?.setting === setting ? last : undefined;
  };
  const onSettings = vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration(SETTINGS_SECTION)) changed.fire();
  });

  const provider: vscode.LanguageModelChatProvider<LanguageModelInfo> = {
    onDidChangeLanguageModelChatInformation: changed.event,

    provideLanguageModelChatInformation(): LanguageModelInfo[] {
      const read = readSettings();
      const settings = read.ok ? read.settings : DEFAULT_SETTINGS;
      return languageModelInfos(settings, describeModel(settings.model), KVSTEER_VERSION);
    },

    async provideLanguageModelChatResponse(model, messages, options, progress, token): Promise<void> {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      try {
        const read = await readSettingsAfterWrites();
        if (!read.ok) throw new LanguageModelFailure('SettingsInvalid', `KV Steer settings need fixing: ${read.errors.join('; ')}`);
        host.log.info(`Language model request for ${model.name} (${messages.length} messages)`);
        const request = {
          model: model.id as LanguageModelId,
          messages: toChatMessages(messages),
          toolCallRequired: (options.tools?.length ?? 0) > 0 && options.toolMode === vscode.LanguageModelChatToolMode.Required,
          modelOptions: options.modelOptions,
        };
        const done = await host.withLoadProgress((onLoad) =>
          answerLanguageModelRequest(request, (text) => progress.report(new vscode.LanguageModelTextPart(text)), host.service, read.settings, abort.signal, onLoad),
        );
        host.log.info(`Language model answer: ${done.tokens} tokens (${done.stopReason ?? 'no answer'})`);
      } catch (e) {
        const failure = toLanguageModelFailure(e);
        host.log.warn(`Language model request failed (${failure.code}): ${failure.message}`);
        throw languageModelError(failure);
      } finally {
        sub.dispose();
      }
    },

    async provideTokenCount(_model, text): Promise<number> {
      // For the model the settings name now: a model left loaded from before a change does not count.
      const read = readSettings();
      const setting = read.ok ? read.settings.model : undefined;
      return typeof text === 'string' ? countTokens(host.service, text, setting) : countMessageTokens(host.service, text, setting);
    },
  };

  context.subscriptions.push(vscode.lm.registerLanguageModelChatProvider(LANGUAGE_MODEL_VENDOR, provider), changed, onState, onSettings);
}

/**
 * The vscode.LanguageModelError for a failure, its code one callers can branch on. The extension
 * host's constructor takes (message, code, cause) and keeps the code when the error reaches the
 * caller; the public typings declare only the factories, hence the cast. Where the class is absent
 * (a stand-in `vscode`), an Error of the same name and code, which VS Code would read the same.
 */
function languageModelError(f: LanguageModelFailure): Error {
  const LanguageModelError = vscode.LanguageModelError as unknown as (new (message?: string, code?: string, cause?: unknown) => vscode.LanguageModelError) | undefined;
  if (typeof LanguageModelError !== 'function') return Object.assign(new Error(f.message, { cause: f.cause }), { name: 'LanguageModelError', code: f.code });
  return new LanguageModelError(f.message, f.code, f.cause);
}
