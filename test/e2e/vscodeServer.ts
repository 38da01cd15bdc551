/**
 * Runs a real VS Code server (the one inside the npm package code-server, VS Code 1.139) for
 * end-to-end tests: installs a .vsix into an extensions folder and starts the server on a free
 * port with Node 24, its output captured under test-artifacts/e2e/. `test/e2e/setup.sh` must have
 * run first: it installs Node 24 and the server under .cache/e2e/ and writes the manifest
 * (.cache/e2e/current.json) this module reads. The browser side is in workbench.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths';

/** Where e2e tests leave logs and screenshots (git-ignored). */
export const artifactsDir = path.join(repoRoot, 'test-artifacts', 'e2e');

/** The cache that setup.sh fills: `KVSTEER_E2E_CACHE` when set, else `<repo>/.cache/e2e`. */
export const cacheDir = process.env.KVSTEER_E2E_CACHE ?? path.join(repoRoot, '.cache', 'e2e');

/** What setup.sh installed (its `current.json`). */
export interface ServerInstall {
  /** Node 24 binary the server runs with. */
  nodeBin: string;
  /** `lib/vscode/out/server-main.js` of the installed code-server package. */
  serverMain: string;
  nodeVersion: string;
  codeServerVersion: string;
  vscodeVersion: string;
}

/**
 * Reads the manifest setup.sh writes, or returns a reason to skip when the harness is not
 * installed (tests pass it to `{ skip }` so a run without it says why instead of failing).
 */
export function findServerInstall(): { install: ServerInstall; skip: false } | { install: undefined; skip: string } {
  const manifest = path.join(cacheDir, 'current.json');
  if (!fs.existsSync(manifest)) {
    return { install: undefined, skip: `${manifest} is absent: run test/e2e/setup.sh first` };
  }
  const install = JSON.parse(fs.readFileSync(manifest, 'utf8')) as ServerInstall;
  for (const f of [install.nodeBin, install.serverMain]) {
    if (!fs.existsSync(f)) return { install: undefined, skip: `${f} (from ${manifest}) is missing: run test/e2e/setup.sh again` };
  }
  return { install, skip: false };
}

function requireInstall(): ServerInstall {
  const found = findServerInstall();
  if (found.skip !== false) throw new Error(found.skip);
  return found.install;
}

/** The folders one server instance uses; `makeE2eDirs` creates a fresh set. */
export interface E2eDirs {
  /** Parent of the others (removed by `removeE2eDirs`). */
  root: string;
  extensionsDir: string;
  userDataDir: string;
  /** Server data (the server's own state; kept out of $HOME). */
  serverDataDir: string;
  /** The folder opened in the workbench. */
  workspaceDir: string;
}

/** Creates a fresh, empty set of folders under the OS temp folder. */
export function makeE2eDirs(prefix = 'kvsteer-e2e-'): E2eDirs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dirs: E2eDirs = {
    root,
    extensionsDir: path.join(root, 'extensions'),
    userDataDir: path.join(root, 'user-data'),
    serverDataDir: path.join(root, 'server-data'),
    workspaceDir: path.join(root, 'workspace'),
  };
  for (const d of [dirs.extensionsDir, dirs.userDataDir, dirs.serverDataDir, dirs.workspaceDir]) fs.mkdirSync(d, { recursive: true });
  return dirs;
}

export function removeE2eDirs(dirs: E2eDirs): void {
  fs.rmSync(dirs.root, { recursive: true, force: true });
}

/** One entry of `<extensionsDir>/extensions.json`. */
export interface InstalledExtension {
  /** `publisher.name` */
  id: string;
  version: string;
  /** The extension's folder. */
  path: string;
}

/**
 * Installs a .vsix into `dirs.extensionsDir` with the server's own CLI (it exits after
 * installing; `--force` replaces an installed copy). Install before `startServer`: the server
 * reads `<ext>/extensions.json` at start, and a folder copied into `<ext>` by hand after that
 * file exists is ignored.
 */
export async function installExtension(
  vsixPath: string,
  dirs: { extensionsDir: string; userDataDir?: string; serverDataDir?: string },
  options: { timeoutMs?: number } = {},
): Promise<InstalledExtension> {
  const install = requireInstall();
  if (!fs.existsSync(vsixPath)) throw new Error(`installExtension: ${vsixPath} does not exist`);
  fs.mkdirSync(dirs.extensionsDir, { recursive: true });
  const args = [install.serverMain, '--install-extension', path.resolve(vsixPath), '--force',
    '--extensions-dir', dirs.extensionsDir, '--accept-server-license-terms'];
  if (dirs.userDataDir) args.push('--user-data-dir', dirs.userDataDir);
  if (dirs.serverDataDir) args.push('--server-data-dir', dirs.serverDataDir);
  const { code, output } = await runToEnd(install.nodeBin, args, options.timeoutMs ?? 60_000);
  if (code !== 0 || !/successfully installed/i.test(output)) {
    throw new Error(`installing ${vsixPath} failed (exit ${code}):\n${output}`);
  }
  // The newest entry of extensions.json is the one just installed.
  const entries = listInstalledExtensions(dirs.extensionsDir);
  const newest = entries.sort((a, b) => b.installedTimestamp - a.installedTimestamp)[0];
  if (!newest) throw new Error(`installing ${vsixPath} reported success but ${dirs.extensionsDir}/extensions.json lists nothing:\n${output}`);
  return { id: newest.id, version: newest.version, path: newest.path };
}

/**
 * Packs an extension folder (a test fixture with no build step or dependencies) into a .vsix with
 * the project's own vsce, for `installExtension`.
 */
export async function packageExtensionFolder(folder: string, outFile: string, options: { timeoutMs?: number } = {}): Promise<string> {
  const vsce = path.join(repoRoot, 'node_modules', '@vscode', 'vsce', 'vsce');
  const args = [vsce, 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', path.resolve(outFile)];
  const { code, output } = await runToEnd(process.execPath, args, options.timeoutMs ?? 60_000, folder);
  if (code !== 0 || !fs.existsSync(outFile)) throw new Error(`packaging ${folder} failed (exit ${code}):\n${output}`);
  return outFile;
}

/** The extensions `<extensionsDir>/extensions.json` lists (none when it does not exist). */
export function listInstalledExtensions(extensionsDir: string): (InstalledExtension & { installedTimestamp: number })[] {
  const file = path.join(extensionsDir, 'extensions.json');
  if (!fs.existsSync(file)) return [];
  interface Entry {
    identifier: { id: string };
    version: string;
    relativeLocation?: string;
    location?: { path?: string; fsPath?: string };
    metadata?: { installedTimestamp?: number };
  }
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Entry[];
  return raw.map((e) => ({
    id: e.identifier.id,
    version: e.version,
    path: e.relativeLocation ? path.join(extensionsDir, e.relativeLocation) : (e.location?.fsPath ?? e.location?.path ?? ''),
    installedTimestamp: e.metadata?.installedTimestamp ?? 0,
  }));
}

/** Options of `startServer`. */
export interface StartServerOptions {
  extensionsDir: string;
  userDataDir: string;
  /** Opened by `RunningServer.workbenchUrl` (the server itself does not need it). */
  workspaceDir: string;
  /** Server data folder; default `<userDataDir>/../server-data` (kept out of $HOME). */
  serverDataDir?: string;
  /** Merged over `defaultSettings` into `<userDataDir>/User/settings.json`. */
  settings?: Record<string, unknown>;
  /** Names the log files under test-artifacts/e2e/ (default `server`). */
  name?: string;
  /** How long to wait for the server to answer HTTP (default 60 s). */
  readyTimeoutMs?: number;
  /** Extra environment for the server (and so the extension host). */
  env?: Record<string, string>;
  /** Server `--log` level (default `info`). */
  logLevel?: string;
  /**
   * The server's working folder, and so the extension host's (default `workspaceDir`, as `code .`
   * starts it; another folder, as VS Code started from a launcher does).
   */
  cwd?: string;
}

export interface RunningServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** URL that opens the workbench on `workspaceDir`. */
  workbenchUrl: string;
  /** The server's stdout and stderr. */
  logFile: string;
  /**
   * Where the server's own logs (remoteagent.log, exthostN/ with each extension's output
   * channel) are copied when it stops; while it runs they are under `<userDataDir>/logs`.
   */
  logsDir: string;
  pid: number;
  /** Stops the server and everything it started (its process group). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Settings that keep a fresh workbench quiet and deterministic: no workspace trust prompt, no
 * welcome page or walkthroughs, no telemetry, update or gallery traffic, no git prompt about a
 * repository in a parent folder (test folders often live inside the checkout), no screen-reader
 * question. `startServer` writes these plus the ones passed in.
 */
export const defaultSettings: Readonly<Record<string, unknown>> = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'editor.accessibilitySupport': 'off',
  'workbench.editor.enablePreview': false,
};

/** Writes `<userDataDir>/User/settings.json`: `defaultSettings` overlaid with `settings`. */
export function writeSettings(userDataDir: string, settings: Record<string, unknown> = {}): string {
  const file = path.join(userDataDir, 'User', 'settings.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...defaultSettings, ...settings }, null, 2) + '\n');
  return file;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts the VS Code server on a free port (the server picks it: `--port 0`) and waits until
 * it serves the workbench page. The server runs in its own process group; `stop()` ends the
 * group, and so does this process exiting without calling it.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const install = requireInstall();
  const name = sanitize(options.name ?? 'server');
  fs.mkdirSync(artifactsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const logFile = path.join(artifactsDir, `${name}-${stamp}.log`);
  const logsDir = path.join(artifactsDir, `${name}-${stamp}-logs`);
  const serverDataDir = options.serverDataDir ?? path.join(path.dirname(options.userDataDir), 'server-data');
  fs.mkdirSync(serverDataDir, { recursive: true });
  fs.mkdirSync(options.workspaceDir, { recursive: true });
  writeSettings(options.userDataDir, options.settings);

  const args = [
    install.serverMain,
    '--host', '127.0.0.1',
    '--port', '0',
    '--without-connection-token',
    '--accept-server-license-terms',
    '--telemetry-level', 'off',
    '--user-data-dir', options.userDataDir,
    '--server-data-dir', serverDataDir,
    '--extensions-dir', options.extensionsDir,
    '--log', options.logLevel ?? 'info',
  ];
  const log = fs.openSync(logFile, 'a');
  fs.writeSync(log, `# ${install.nodeBin} ${args.join(' ')}\n`);
  const child = spawn(install.nodeBin, args, {
    cwd: options.cwd ?? options.workspaceDir,
    env: { ...cleanEnv(), ...options.env },
    detached: true, // own process group, so stop() can end the server and everything under it
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  installExitHooks();
  // A test that forgets stop() must not keep the test process alive; the exit hook then ends
  // the server.
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();

  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  let output = '';
  let port: number | undefined;
  let logOpen = true;
  const onData = (chunk: Buffer): void => {
    if (logOpen) fs.writeSync(log, chunk);
    if (port === undefined) {
      output += chunk.toString('utf8');
      const m = /Extension host agent listening on (\d+)/.exec(output) ?? /Server bound to [^:\s]+:(\d+)/.exec(output);
      if (m) port = Number(m[1]);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', () => live.delete(child));
  child.once('close', () => {
    // all output streams have ended
    logOpen = false;
    fs.closeSync(log);
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await killGroup(child, exited);
    copyLogs(path.join(options.userDataDir, 'logs'), logsDir);
  };

  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  try {
    while (port === undefined) {
      if (spawnError) throw new Error(`cannot start ${install.nodeBin}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the VS Code server exited (${child.exitCode ?? child.signalCode}) before listening`);
      if (Date.now() > deadline) throw new Error(`the VS Code server did not report its port within ${timeoutMs} ms`);
      await sleep(50);
    }
    const url = `http://127.0.0.1:${port}`;
    while (!(await httpOk(url + '/'))) {
      if (child.exitCode !== null) throw new Error(`the VS Code server exited (${child.exitCode}) before serving ${url}`);
      if (Date.now() > deadline) throw new Error(`the VS Code server did not serve ${url} within ${timeoutMs} ms`);
      await sleep(100);
    }
    return {
      url,
      port,
      workbenchUrl: workbenchUrl(url, options.workspaceDir),
      logFile,
      logsDir,
      pid: child.pid!,
      stop,
    };
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n--- server log ${logFile} (tail) ---\n${tail(logFile, 40)}`);
  }
}

/** The URL that opens `folder` in the workbench served at `url`. */
export function workbenchUrl(url: string, folder: string): string {
  return `${url}/?folder=${encodeURIComponent(path.resolve(folder))}`;
}

/** Last `lines` lines of a text file ('' when it cannot be read). */
export function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * The environment for the server, without what would leak from the test process into the
 * extension host: node:test's child marker, NODE_OPTIONS, and the variables a VS Code terminal
 * sets (which make a spawned Node think it is a VS Code CLI or Electron). `EXTENSIONS_GALLERY`
 * is `{}` (no extension gallery) unless set: the server otherwise queries open-vsx.org at
 * start, which offline fails (noise in the logs) and online can bring update notifications.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { EXTENSIONS_GALLERY: '{}' };
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_TEST_CONTEXT' || k === 'NODE_OPTIONS' || k === 'ELECTRON_RUN_AS_NODE' || k.startsWith('VSCODE_')) continue;
    env[k] = v;
  }
  return env;
}

async function killGroup(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pid, s);
    } catch {
      // the group is already gone
    }
  };
  signal('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  // Children of the server (extension host, pty host) may outlive it; end the whole group.
  signal('SIGKILL');
  if (!done) await Promise.race([exited, sleep(2000)]);
  live.delete(child);
}

function copyLogs(from: string, to: string): void {
  try {
    if (fs.existsSync(from)) fs.cpSync(from, to, { recursive: true });
  } catch {
    // logs are a convenience; never fail a test over them
  }
}

function killAllSync(): void {
  for (const c of live) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/**
 * Ends every server this process started when it exits, also on a signal (Ctrl+C, a CI
 * timeout): the servers run in their own process groups and would otherwise outlive it.
 */
function installExitHooks(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllSync);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    const onSignal = (): void => {
      killAllSync();
      // Exit as the signal would have, unless another handler (playwright's) takes care of it.
      if (process.listenerCount(sig) <= 1) process.exit(code);
    };
    process.on(sig, onSignal);
  }
}

function runToEnd(cmd: string, args: string[], timeoutMs: number, cwd?: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}
