/**
 * Drives the VS Code workbench that vscodeServer.ts serves, in Debian's chromium through
 * playwright-core (never a downloaded browser): open the workbench on a folder, run a command
 * from the palette, answer an input box, open a file and select text, find a webview's content
 * frame, check that the Chat view recognises a participant and its slash command, and save
 * screenshots under test-artifacts/e2e/. Every wait has a timeout and every failure says what
 * it was waiting for; a failing step also leaves a screenshot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { artifactsDir, sanitize, workbenchUrl } from './vscodeServer';

/**
 * The few DOM shapes that the callbacks run inside the page use. The repo compiles without
 * lib.dom (extension and engine code must not see browser globals), so they are declared here,
 * local to this module.
 */
interface PageElement {
  readonly textContent: string | null;
  readonly classList: Iterable<string>;
  readonly value?: string;
  readonly placeholder?: string;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  closest(selector: string): PageElement | null;
}
declare const document: { querySelector(selector: string): PageElement | null; readonly activeElement: PageElement | null; readonly title: string };
declare function getComputedStyle(element: PageElement): { readonly display: string };

/** The browser: `KVSTEER_E2E_CHROMIUM` when set, else Debian's `/usr/bin/chromium`. */
export const chromiumPath = process.env.KVSTEER_E2E_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for chromium in a container without a display or GPU, kept off the network apart from
 * the local server (the workbench otherwise asks the extension gallery and others).
 */
export const chromiumArgs: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage', // Docker's 64 MB /dev/shm crashes renderers
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

/** Default for the waits below; slow CI machines get more through `KVSTEER_E2E_TIMEOUT_MS`. */
export const defaultTimeoutMs = Number(process.env.KVSTEER_E2E_TIMEOUT_MS ?? 30_000);

export interface Workbench {
  page: Page;
  context: BrowserContext;
  /** The browser's throwaway profile (removed by `close`). */
  profileDir: string;
  /** Browser console errors/warnings and page errors. */
  browserLog: string;
  /** Milliseconds from navigation until the workbench was ready. */
  loadMs: number;
  close(): Promise<void>;
}

export interface OpenWorkbenchOptions {
  /** Names the browser log (default `workbench`). */
  name?: string;
  /** Wait for the workbench this long (default 60 s). */
  timeoutMs?: number;
  viewport?: { width: number; height: number };
  /** Default true; `KVSTEER_E2E_HEADED=1` shows the window (needs a display). */
  headless?: boolean;
}

/**
 * Launches chromium (headless, fresh profile) and opens the workbench served at `url` (a
 * server's `url`, or a full workbench URL when `folder` is omitted) on `folder`. Resolves when
 * the workbench is laid out, the folder is open (the window title names it) and no
 * notification toasts cover the UI. Extensions may still be starting: the helpers below wait
 * for what they need (a command in the palette, a participant in the Chat view).
 */
export async function openWorkbench(url: string, folder?: string, options: OpenWorkbenchOptions = {}): Promise<Workbench> {
  const name = sanitize(options.name ?? 'workbench');
  const timeoutMs = options.timeoutMs ?? 60_000;
  fs.mkdirSync(artifactsDir, { recursive: true });
  const browserLog = path.join(artifactsDir, `${name}-browser-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-e2e-chromium-'));
  if (!fs.existsSync(chromiumPath)) throw new Error(`${chromiumPath} not found: run test/e2e/setup.sh (or set KVSTEER_E2E_CHROMIUM)`);
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: options.headless ?? process.env.KVSTEER_E2E_HEADED !== '1',
    args: [...chromiumArgs],
    viewport: options.viewport ?? { width: 1400, height: 900 },
    timeout: timeoutMs,
  });
  const close = async (): Promise<void> => {
    await context.close().catch(() => undefined);
    fs.rmSync(profileDir, { recursive: true, force: true });
  };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(defaultTimeoutMs);
    const logLine = (line: string): void => fs.appendFileSync(browserLog, `${new Date().toISOString()} ${line}\n`);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') logLine(`[${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => logLine(`[pageerror] ${e.stack ?? e.message}`));
    page.on('crash', () => logLine('[crash] the page crashed'));

    const target = folder === undefined ? url : workbenchUrl(url, folder);
    const t0 = Date.now();
    await page.goto(target, { timeout: timeoutMs });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
    await page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
    if (folder !== undefined) {
      // The window title names the folder once the workspace has opened (default window.title).
      const base = path.basename(path.resolve(folder));
      await page.waitForFunction((b: string) => document.title.includes(b), base, { timeout: timeoutMs }).catch(async () => {
        throw new Error(`openWorkbench: the window title never named the folder "${base}" (title: ${JSON.stringify(await page.title())})`);
      });
    }
    const loadMs = Date.now() - t0;
    await dismissNotifications(page);
    return { page, context, profileDir, browserLog, loadMs, close };
  } catch (e) {
    const page = context.pages()[0];
    if (page) await screenshot(page, `${name}-open-failed`).catch(() => undefined);
    await close();
    throw e;
  }
}

/** Saves a PNG of the page under test-artifacts/e2e/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${sanitize(name)}.png`);
  await page.screenshot({ path: file, timeout: 15_000 });
  return file;
}

/** Runs `step`; when it throws, saves a screenshot named `failed-<label>` and rethrows. */
export async function withScreenshotOnFailure<T>(page: Page, label: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    const shot = await screenshot(page, `failed-${label}`).catch(() => undefined);
    if (shot && e instanceof Error) e.message += `\n(screenshot: ${shot})`;
    throw e;
  }
}

// ── quick input (command palette, quick open, input boxes) ────────────────────────────────

function quickInput(page: Page): { widget: Locator; input: Locator; rows: Locator } {
  const widget = page.locator('.quick-input-widget');
  return { widget, input: widget.locator('.quick-input-box input'), rows: widget.locator('.quick-input-list .monaco-list-row') };
}

/** Closes the quick input if it is open (Escape), so the next F1 starts clean. */
async function closeQuickInput(page: Page): Promise<void> {
  const { widget } = quickInput(page);
  for (let i = 0; i < 3 && (await widget.isVisible()); i++) {
    await page.keyboard.press('Escape');
    await widget.waitFor({ state: 'hidden', timeout: 2000 }).catch(() => undefined);
  }
}

/**
 * Opens a quick input with `open`, fills `value` and picks the row whose label is exactly
 * `label`: Enter when it is the focused row, a click otherwise. The list is computed when the
 * quick input opens and does not pick up commands registered later (an extension's
 * contributions arrive a few seconds after the workbench shows), so when the row does not show
 * within a few seconds it closes and reopens the quick input, until `timeoutMs`.
 */
async function pickFromQuickInput(page: Page, open: string, value: string, label: string, timeoutMs: number, what: string): Promise<void> {
  const { input, rows } = quickInput(page);
  const row = rows.filter({ has: page.locator('.label-name').getByText(label, { exact: true }) }).first();
  const deadline = Date.now() + timeoutMs;
  let shown: string[] = [];
  for (let attempt = 0; ; attempt++) {
    await closeQuickInput(page);
    await page.keyboard.press(open);
    await input.waitFor({ state: 'visible', timeout: Math.max(1000, deadline - Date.now()) });
    await input.fill(value);
    const wait = Math.min(attempt === 0 ? 3000 : 5000, Math.max(0, deadline - Date.now()));
    const found = await row.waitFor({ state: 'visible', timeout: wait }).then(() => true, () => false);
    if (found) break;
    shown = await rows.locator('.label-name').allTextContents().catch(() => [] as string[]);
    if (Date.now() >= deadline) {
      await closeQuickInput(page);
      throw new Error(`${what}: no entry "${label}" appeared for "${value}" within ${timeoutMs} ms (${attempt + 1} tries); shown: ${JSON.stringify(shown.slice(0, 10))}`);
    }
  }
  const focused = await row.evaluate((e: PageElement) => Array.from(e.classList).includes('focused')).catch(() => false);
  if (focused) await input.press('Enter');
  else await row.click();
}

/**
 * Runs a command by its palette title (with category, e.g. "Probe: Show Panel"): F1, type the
 * title, wait until the list shows exactly that entry (reopening the palette while an
 * extension's commands are still arriving), pick it.
 */
export async function runCommand(page: Page, title: string, options: { timeoutMs?: number } = {}): Promise<void> {
  await pickFromQuickInput(page, 'F1', `>${title}`, title, options.timeoutMs ?? defaultTimeoutMs, `runCommand("${title}")`);
}

/**
 * Picks the row whose label contains `label` in the quick pick a command opened
 * (`vscode.window.showQuickPick`, whose items may arrive a moment later): waits for the row, types
 * `label` to filter the list, clicks it.
 */
export async function pickQuickPickItem(page: Page, label: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const { input, rows } = quickInput(page);
  const row = rows.filter({ has: page.locator('.label-name', { hasText: label }) }).first();
  try {
    await row.waitFor({ state: 'visible', timeout: timeoutMs });
  } catch {
    const shown = await rows.locator('.label-name').allTextContents().catch(() => [] as string[]);
    throw new Error(`pickQuickPickItem: no entry "${label}" within ${timeoutMs} ms; shown: ${JSON.stringify(shown.slice(0, 10))}`);
  }
  await input.fill(label);
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
}

/**
 * Types `text` into the input box a command opened (`vscode.window.showInputBox`) and presses
 * Enter. Waits for an input box rather than the palette it replaces (the palette's value starts
 * with ">", an input box has no list); `prompt` (a substring of the prompt or placeholder)
 * makes sure it is the expected one. Throws with the validation message if the box stays open.
 */
export async function answerInputBox(page: Page, text: string, options: { prompt?: string; timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const { widget, input } = quickInput(page);
  try {
    await page.waitForFunction(
      (prompt: string | null) => {
        const w = document.querySelector('.quick-input-widget');
        if (!w || getComputedStyle(w).display === 'none') return false;
        const box = w.querySelector('.quick-input-box input');
        const value = box?.value ?? '';
        if (!box || value.startsWith('>')) return false;
        const list = w.querySelector('.quick-input-list');
        if (list && getComputedStyle(list).display !== 'none' && list.querySelector('.monaco-list-row')) return false;
        if (prompt === null) return true;
        const message = w.querySelector('.quick-input-message')?.textContent ?? '';
        const title = w.querySelector('.quick-input-title')?.textContent ?? '';
        return message.includes(prompt) || title.includes(prompt) || (box.placeholder ?? '').includes(prompt) || (box.getAttribute('aria-label') ?? '').includes(prompt);
      },
      options.prompt ?? null,
      { timeout: timeoutMs },
    );
  } catch {
    throw new Error(`answerInputBox: no input box${options.prompt ? ` with prompt "${options.prompt}"` : ''} appeared within ${timeoutMs} ms`);
  }
  await input.fill(text);
  await input.press('Enter');
  // Accepted: the box closes, or (a multi-step input) the next box replaces the value.
  const acceptedBy = Date.now() + 5000;
  while ((await widget.isVisible()) && (await input.inputValue().catch(() => '')) === text) {
    if (Date.now() > acceptedBy) {
      const message = await widget.locator('.quick-input-message').textContent().catch(() => '');
      throw new Error(`answerInputBox: the input box did not accept "${text}" (message: ${JSON.stringify(message)})`);
    }
    await page.waitForTimeout(50);
  }
}

// ── editor ────────────────────────────────────────────────────────────────────────────────

/** The active text editor (the focused editor group's). */
function activeEditor(page: Page): Locator {
  return page.locator('.editor-group-container.active .editor-instance .monaco-editor').first();
}

/**
 * Opens a workspace file through quick open (Ctrl+P) by its name or workspace-relative path,
 * and waits until its editor is active and focused.
 */
export async function openFile(page: Page, fileName: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const base = path.basename(fileName);
  await pickFromQuickInput(page, 'Control+P', fileName, base, timeoutMs, `openFile("${fileName}")`);
  await page.locator('.editor-group-container.active .tab.active').filter({ hasText: base }).first().waitFor({ state: 'visible', timeout: timeoutMs });
  await activeEditor(page).locator('.view-lines').waitFor({ state: 'visible', timeout: timeoutMs });
  await page.waitForFunction(() => !!document.activeElement?.closest('.editor-instance .monaco-editor'), undefined, { timeout: timeoutMs });
}

/** Cursor and selection as the status bar shows them ("Ln 3, Col 7 (5 selected)"). */
export interface StatusSelection {
  line: number;
  column: number;
  /** Characters selected (0 when the selection is empty). */
  selected: number;
}

/** Reads the cursor position and selection size from the status bar. */
export async function readStatusSelection(page: Page): Promise<StatusSelection | undefined> {
  const text = (await page.locator('[id="status.editor.selection"]').first().textContent({ timeout: 5000 }).catch(() => null)) ?? '';
  const m = /Ln (\d+), Col (\d+)(?: \((\d+) selected\))?/.exec(text);
  if (!m) return undefined;
  return { line: Number(m[1]), column: Number(m[2]), selected: m[3] ? Number(m[3]) : 0 };
}

async function waitForStatus(page: Page, ok: (s: StatusSelection) => boolean, timeoutMs: number): Promise<StatusSelection | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusSelection | undefined;
  for (;;) {
    last = await readStatusSelection(page);
    if (last && ok(last)) return last;
    if (Date.now() > deadline) return last;
    await page.waitForTimeout(50);
  }
}

/** Moves the cursor of the focused editor to a 1-based line and column (Go to Line, Ctrl+G). */
export async function goToLine(page: Page, line: number, column = 1, options: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  await closeQuickInput(page);
  const { widget, input } = quickInput(page);
  await page.keyboard.press('Control+G');
  await input.waitFor({ state: 'visible', timeout: timeoutMs });
  await input.fill(`:${line}:${column}`);
  await input.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: timeoutMs });
  const s = await waitForStatus(page, (st) => st.line === line && st.column === column, 5000);
  if (!s || s.line !== line || s.column !== column) {
    throw new Error(`goToLine(${line}, ${column}): the cursor is at ${JSON.stringify(s)} (past the end of the line or file?)`);
  }
}

/** A 1-based range: `end` is exclusive in the usual editor sense (the cursor after the last character). */
export interface TextRange {
  start: { line: number; column: number };
  end: { line: number; column: number };
}

/**
 * Selects a range in the focused editor: Go to Line to `start`, then Shift+Down and
 * Shift+Left/Right until the status bar shows the cursor at `end`. Columns are characters
 * (VS Code's status bar counts a tab as its width, so ranges on lines with tabs before the
 * column are off; use `selectTextInEditor` there).
 */
export async function selectRange(page: Page, range: TextRange, options: { timeoutMs?: number } = {}): Promise<StatusSelection> {
  await goToLine(page, range.start.line, range.start.column, options);
  for (let i = range.start.line; i < range.end.line; i++) await page.keyboard.press('Shift+ArrowDown');
  let s = await waitForStatus(page, (st) => st.line === range.end.line, 5000);
  for (let tries = 0; s && s.column !== range.end.column && tries < 3; tries++) {
    const delta = range.end.column - s.column;
    for (let i = 0; i < Math.abs(delta); i++) await page.keyboard.press(delta > 0 ? 'Shift+ArrowRight' : 'Shift+ArrowLeft');
    s = await waitForStatus(page, (st) => st.line === range.end.line && st.column === range.end.column, 5000);
  }
  if (!s || s.line !== range.end.line || s.column !== range.end.column) {
    throw new Error(`selectRange(${JSON.stringify(range)}): the cursor ended at ${JSON.stringify(s)}`);
  }
  return s;
}

/**
 * Selects the `occurrence`-th (1-based) match of `text` (one line, matched literally and
 * case-sensitively) in the focused editor, using the Find widget: from the top of the file,
 * Ctrl+F, type, Enter `occurrence` times, Escape; the last match stays selected. Checks the
 * status bar shows `text.length` characters selected.
 */
export async function selectTextInEditor(page: Page, text: string, options: { occurrence?: number; timeoutMs?: number } = {}): Promise<StatusSelection> {
  if (text.length === 0 || text.includes('\n')) throw new Error('selectTextInEditor: text must be one non-empty line (use selectRange for more)');
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const occurrence = options.occurrence ?? 1;
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('Control+F');
  const find = activeEditor(page).locator('.find-widget');
  const findInput = find.locator('.find-part .input').first();
  await findInput.waitFor({ state: 'visible', timeout: timeoutMs });
  await setToggle(find, 'Use Regular Expression', false);
  await setToggle(find, 'Match Case', true);
  await setToggle(find, 'Match Whole Word', false);
  await findInput.fill(text);
  // "1 of N" once the search ran; "No results" when nothing matches.
  const matches = find.locator('.matchesCount');
  const deadline = Date.now() + timeoutMs;
  let count = '';
  while (!/of|No results/.test((count = (await matches.textContent()) ?? ''))) {
    if (Date.now() > deadline) throw new Error(`selectTextInEditor: the Find widget did not search for "${text}" within ${timeoutMs} ms`);
    await page.waitForTimeout(50);
  }
  if (/No results/.test(count)) {
    await page.keyboard.press('Escape');
    throw new Error(`selectTextInEditor: "${text}" is not in the active editor`);
  }
  // Typing already moved to the first match after the cursor; Enter steps to the next ones.
  for (let i = 1; i < occurrence; i++) await findInput.press('Enter');
  await page.keyboard.press('Escape');
  await find.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
  const s = await waitForStatus(page, (st) => st.selected === text.length, 5000);
  if (!s || s.selected !== text.length) {
    throw new Error(`selectTextInEditor("${text}"): the status bar shows ${JSON.stringify(s)} (match counter "${count}")`);
  }
  return s;
}

async function setToggle(findWidget: Locator, title: string, on: boolean): Promise<void> {
  const toggle = findWidget.locator(`.monaco-custom-toggle[aria-label^="${title}"]`).first();
  if ((await toggle.count()) === 0) return;
  const checked = (await toggle.getAttribute('aria-checked')) === 'true';
  if (checked !== on) await toggle.click();
}

/**
 * Opens a workspace file and selects either the given text (see `selectTextInEditor`) or a
 * range (see `selectRange`), so that a command run next sees it as `editor.selection`.
 */
export async function openFileAndSelect(
  page: Page,
  fileName: string,
  selection: string | TextRange,
  options: { occurrence?: number; timeoutMs?: number } = {},
): Promise<StatusSelection> {
  await openFile(page, fileName, options);
  return typeof selection === 'string' ? selectTextInEditor(page, selection, options) : selectRange(page, selection, options);
}

// ── webviews ──────────────────────────────────────────────────────────────────────────────

/**
 * Finds the frame with a webview's own content. A VS Code webview is an iframe (index.html,
 * the host) holding another iframe (`id="active-frame"`) with the extension's HTML; this
 * returns that inner frame once `predicate` holds for it, e.g.
 * `f => f.locator('h1', { hasText: 'Probe Panel' }).count().then(n => n > 0)`, or for a
 * string, once that CSS selector matches in it.
 */
export async function findWebviewFrame(
  page: Page,
  predicate: string | ((frame: Frame) => boolean | Promise<boolean>) = 'body',
  options: { timeoutMs?: number } = {},
): Promise<Frame> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const test = typeof predicate === 'string' ? async (f: Frame) => (await f.locator(predicate).count()) > 0 : predicate;
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  for (;;) {
    const candidates = await webviewContentFrames(page);
    seen = Math.max(seen, candidates.length);
    for (const f of candidates) {
      try {
        if (await test(f)) return f;
      } catch {
        // the frame navigated or detached while we looked; try again
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`findWebviewFrame: no webview content frame matched ${typeof predicate === 'string' ? JSON.stringify(predicate) : 'the predicate'} within ${timeoutMs} ms (${seen} webview frame(s) seen)`);
    }
    await page.waitForTimeout(100);
  }
}

/** The inner (`active-frame`) frames of every webview on the page. */
export async function webviewContentFrames(page: Page): Promise<Frame[]> {
  const out: Frame[] = [];
  for (const f of page.frames()) {
    const parent = f.parentFrame();
    if (!parent || !parent.url().includes('/webview/browser/pre/')) continue;
    try {
      // Playwright's frame.name() keeps the id the frame had when attached ("pending-frame");
      // the host renames it to "active-frame" once the content loaded.
      const el = await f.frameElement();
      if ((await el.getAttribute('id')) === 'active-frame') out.push(f);
    } catch {
      // detached
    }
  }
  return out;
}

// ── notifications ─────────────────────────────────────────────────────────────────────────

/** The texts of the notification toasts on screen. */
export async function notificationTexts(page: Page): Promise<string[]> {
  return page.locator('.notifications-toasts .notification-list-item-message').allTextContents();
}

/** Waits for a notification toast whose message contains `text` (or matches it). */
export async function waitForNotification(page: Page, text: string | RegExp, options: { timeoutMs?: number } = {}): Promise<string> {
  const loc = page.locator('.notifications-toasts .notification-list-item-message').filter({ hasText: text }).first();
  await loc.waitFor({ state: 'visible', timeout: options.timeoutMs ?? defaultTimeoutMs });
  return (await loc.textContent()) ?? '';
}

/** Closes every notification toast on screen (they can cover the UI a test clicks). */
export async function dismissNotifications(page: Page): Promise<void> {
  const toasts = page.locator('.notifications-toasts .notification-toast');
  if ((await toasts.count()) === 0) return;
  await runCommand(page, 'Notifications: Clear All Notifications').catch(() => undefined);
  await closeQuickInput(page);
}

// ── chat ──────────────────────────────────────────────────────────────────────────────────

export interface ChatRecognition {
  /** The `@name` in the text is shown as a recognised participant. */
  participant: boolean;
  /** The `/command` in the text is shown as a recognised slash command. */
  command: boolean;
  /** The decorated pieces of the input, e.g. ["@probe", "/cmd"]. */
  decorated: string[];
}

/**
 * Opens the Chat view, puts `text` (e.g. "@probe /cmd") in its input and reports whether the
 * participant and the slash command in it are recognised: VS Code decorates (colours) a known
 * `@participant` and its known `/command` as soon as they are typed. Retries until both are
 * recognised or `timeoutMs` passes (a participant registers only when its extension has
 * activated). Leaves the input empty. Chat requests themselves cannot run here (no language
 * model without a Copilot sign-in), so test a participant's handler directly.
 */
export async function chatInputRecognises(page: Page, text: string, options: { timeoutMs?: number } = {}): Promise<ChatRecognition> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const participant = /(^|\s)(@[\w.-]+)/.exec(text)?.[2];
  const command = /(^|\s)(\/[\w.-]+)/.exec(text)?.[2];
  const editor = await openChatInput(page, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  // Everything seen decorated since the text was (re)typed; a poll right after typing can
  // come before the decorations, so the answer is the union over the polls.
  const seen: string[] = [];
  const done = (): boolean => (participant === undefined || seen.includes(participant)) && (command === undefined || seen.includes(command));
  while (!done()) {
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.insertText(text);
    await page.keyboard.press('Escape'); // close the completion list '@' and '/' open
    seen.length = 0;
    // Retype now and then: a participant registered after the text was typed may not be
    // picked up until the input changes.
    const retypeAt = Math.min(deadline, Date.now() + 3000);
    do {
      const decorated = await editor.evaluate((root: PageElement) =>
        Array.from(root.querySelectorAll('.view-lines span span'))
          .filter((s) => Array.from(s.classList).some((c) => c.startsWith('ced-')))
          .map((s) => (s.textContent ?? '').replace(/\u00a0/g, ' ').trim()),
      );
      for (const d of decorated) if (!seen.includes(d)) seen.push(d);
      if (done()) break;
      await page.waitForTimeout(100);
    } while (Date.now() < retypeAt);
    if (Date.now() >= deadline) break;
  }
  const result: ChatRecognition = {
    participant: participant !== undefined && seen.includes(participant),
    command: command !== undefined && seen.includes(command),
    decorated: [...seen],
  };
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Escape');
  return result;
}

/** Shows the Chat view (if hidden) and returns its input editor. */
async function openChatInput(page: Page, timeoutMs: number): Promise<Locator> {
  const editor = page.locator('.interactive-input-part .interactive-input-editor .monaco-editor').first();
  if (!(await editor.isVisible())) {
    await runCommand(page, 'Chat: Open Chat', { timeoutMs }).catch(async () => {
      await closeQuickInput(page);
      await runCommand(page, 'View: Toggle Chat', { timeoutMs });
    });
  }
  try {
    await editor.waitFor({ state: 'visible', timeout: timeoutMs });
  } catch {
    throw new Error(`chatInputRecognises: the Chat view's input did not appear within ${timeoutMs} ms`);
  }
  return editor;
}
