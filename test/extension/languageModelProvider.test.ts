/**
 * provider.ts against a stand-in `vscode` module, on the tiny model: failed requests reach the
 * caller as vscode.LanguageModelError with a code to branch on (NotFound for a missing model, the
 * kvsteer problem otherwise, Unknown with the error as cause for the unexpected) and kvsteer's
 * message, and the caller's modelOptions reach the answer.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Module from 'node:module';
import type * as vscodeTypes from 'vscode';
import { SteeringService } from '../../src/service/steeringService';
import type { ServiceHost } from '../../src/service/serviceHost';
import { tinyGgufPath } from '../support/models';

/** As the extension host's class: the factories, and a constructor that keeps code and cause. */
class LanguageModelError extends Error {
  static NotFound = (message?: string) => new LanguageModelError(message, 'NotFound');
  static NoPermissions = (message?: string) => new LanguageModelError(message, 'NoPermissions');
  static Blocked = (message?: string) => new LanguageModelError(message, 'Blocked');
  readonly code: string;
  constructor(message?: string, code?: string, cause?: Error) {
    super(message, { cause });
    this.name = 'LanguageModelError';
    this.code = code ?? '';
  }
}

/** The configured kvsteer.* values the stand-in returns. */
let config: Record<string, unknown> = {};
let registered: vscodeTypes.LanguageModelChatProvider | undefined;
const disposable = { dispose: () => {} };
const stub = {
  EventEmitter: class {
    event = () => disposable;
    fire() {}
    dispose() {}
  },
  LanguageModelTextPart: class {
    constructor(readonly value: string) {}
  },
  LanguageModelChatToolMode: { Auto: 1, Required: 2 },
  LanguageModelError,
  workspace: {
    isTrusted: true,
    workspaceFolders: undefined,
    getConfiguration: () => ({ get: (k: string) => config[k], inspect: (k: string) => ({ globalValue: config[k] }) }),
    onDidChangeConfiguration: () => disposable,
  },
  lm: {
    registerLanguageModelChatProvider: (_vendor: string, p: vscodeTypes.LanguageModelChatProvider) => {
      registered = p;
      return disposable;
    },
  },
};
const M = Module as unknown as { _resolveFilename: (req: string, ...rest: unknown[]) => string };
const resolve = M._resolveFilename;
M._resolveFilename = (req, ...rest) => (req === 'vscode' ? 'vscode' : resolve(req, ...rest));
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub } as unknown as NodeJS.Module;
const { registerLanguageModelProvider } = require('../../src/languageModel/provider') as typeof import('../../src/languageModel/provider');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-lm-provider-'));
const service = new SteeringService({ cacheDir: path.join(dir, 'cache'), vectorDirs: [], log: () => {} });
after(async () => {
  await service.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
/** What the host does around the request; a test may make it throw. */
let around = <T>(job: (onLoad: () => void) => Promise<T>): Promise<T> => job(() => {});
const warnings: string[] = [];
const host = {
  service,
  log: { info: () => {}, warn: (m: string) => void warnings.push(m) },
  withLoadProgress: <T>(job: (onLoad: () => void) => Promise<T>) => around(job),
} as unknown as ServiceHost;
const state = new Map<string, unknown>();
const context = { subscriptions: [], globalState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => void state.set(k, v) } };
registerLanguageModelProvider(context as unknown as vscodeTypes.ExtensionContext, host);
const provider = registered!;

const token = { isCancellationRequested: false, onCancellationRequested: () => disposable } as unknown as vscodeTypes.CancellationToken;
const user = (text: string) => ({ role: 1, content: [new stub.LanguageModelTextPart(text)], name: undefined }) as unknown as vscodeTypes.LanguageModelChatRequestMessage;

async function request(id: string, options: Partial<vscodeTypes.ProvideLanguageModelChatResponseOptions> = {}, messages = [user('the sea')]) {
  const parts: string[] = [];
  const model = { id, name: id } as unknown as vscodeTypes.LanguageModelChatInformation;
  await provider.provideLanguageModelChatResponse(model, messages, { toolMode: 1, ...options } as vscodeTypes.ProvideLanguageModelChatResponseOptions, { report: (p) => void parts.push((p as { value: string }).value) }, token);
  return parts.join('');
}

/** The request fails with a LanguageModelError of `code` whose message matches `re`. */
function failsWith(code: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof LanguageModelError, `not a LanguageModelError: ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  };
}

const tiny = () => ({ model: tinyGgufPath(), maxNewTokens: 4, threads: 1 });

test('a model file that does not exist, or a model id kvsteer does not list, fails as LanguageModelError.NotFound', async () => {
  config = { ...tiny(), model: path.join(dir, 'missing.gguf') };
  await assert.rejects(request('baseline'), failsWith('NotFound', /missing\.gguf: no such file/));
  config = tiny();
  await assert.rejects(request('turbo'), failsWith('NotFound', /kvsteer has no language model "turbo"/));
  assert.match(warnings.at(-1)!, /Language model request failed \(NotFound\): kvsteer has no language model "turbo"/);
});

test("bad requests and settings fail as LanguageModelError with kvsteer's problem as the code", async () => {
  config = tiny();
  await assert.rejects(request('baseline', { modelOptions: { temperature: NaN } }), failsWith('InvalidArgument', /modelOptions\.temperature must be a number from 0 to 5 \(is NaN\)/));
  const tool = { name: 'lookup', description: 'looks up', inputSchema: {} };
  await assert.rejects(request('steered', { tools: [tool], toolMode: 2 }), failsWith('InvalidArgument', /cannot call tools/));
  await assert.rejects(request('baseline', {}, [user('word '.repeat(3000))]), failsWith('PromptTooLong', /the prompt has \d+ tokens but the model's context window is/));
  config = { ...tiny(), 'decoding.mode': 'sampling', 'decoding.temperature': 'hot' };
  await assert.rejects(request('baseline'), failsWith('SettingsInvalid', /KV Steer settings need fixing: kvsteer\.decoding\.temperature must be a number/));
});

test('an unexpected error fails as LanguageModelError Unknown, with the error as its cause', async () => {
  config = tiny();
  const bug = new TypeError('x is not a function');
  around = () => Promise.reject(bug);
  try {
    await assert.rejects(request('baseline'), (e) => failsWith('Unknown', /^x is not a function$/)(e) && (e as Error).cause === bug);
  } finally {
    around = (job) => job(() => {});
  }
});

test("the caller's modelOptions reach the answer", async () => {
  config = { ...tiny(), maxNewTokens: 8, stopOnRepetition: false };
  const whole = await request('baseline');
  const short = await request('baseline', { modelOptions: { max_tokens: 2 } });
  assert.ok(short.length < whole.length && whole.startsWith(short), `${JSON.stringify(short)} is not the start of ${JSON.stringify(whole)}`);
});

test('without the vscode.LanguageModelError class, the error still has its name and code, as VS Code reads them', async () => {
  config = tiny();
  const { LanguageModelError: saved } = stub;
  delete (stub as Partial<typeof stub>).LanguageModelError;
  try {
    await assert.rejects(request('turbo'), (e) => e instanceof Error && e.name === 'LanguageModelError' && (e as Error & { code: string }).code === 'NotFound' && /no language model "turbo"/.test(e.message));
  } finally {
    stub.LanguageModelError = saved;
  }
});
