/**
 * Every command, chat participant, view and setting id the extension contributes, in one place.
 * A test checks them against package.json `contributes`.
 */

export const EXTENSION_ID = 'kvsteer.kvsteer';

export const COMMANDS = {
  ask: 'kvsteer.ask',
  selectModel: 'kvsteer.selectModel',
  selectVector: 'kvsteer.selectVector',
  extractVector: 'kvsteer.extractVector',
  showLog: 'kvsteer.showLog',
  freeModel: 'kvsteer.freeModel',
} as const;

export const CHAT_PARTICIPANT = 'kvsteer.chat';
export const CHAT_PARTICIPANT_NAME = 'kvsteer';
export const CHAT_COMMANDS = { compare: 'compare', baseline: 'baseline' } as const;

/** Vendor of the steered and baseline models registered with VS Code's language-model API. */
export const LANGUAGE_MODEL_VENDOR = 'kvsteer';

export const WEBVIEW_TYPE = 'kvsteer.compare';

/** Setting keys below the `kvsteer` section. */
export const SETTINGS = {
  model: 'model',
  vector: 'vector',
  strengthValues: 'strength.values',
  strengthKeys: 'strength.keys',
  layers: 'layers',
  offsetToken: 'offsetToken',
  maxNewTokens: 'maxNewTokens',
  decodingMode: 'decoding.mode',
  temperature: 'decoding.temperature',
  topP: 'decoding.topP',
  topK: 'decoding.topK',
  seed: 'decoding.seed',
  threads: 'threads',
  keepAlive: 'keepAlive',
  precision: 'precision',
  stopOnRepetition: 'stopOnRepetition',
  repeatPenalty: 'repeatPenalty.penalty',
  repeatLastN: 'repeatPenalty.lastN',
} as const;

export const SETTINGS_SECTION = 'kvsteer';
