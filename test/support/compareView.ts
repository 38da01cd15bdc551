/**
 * Runs media/compare.js in Node against a small stand-in for the webview's DOM, so that tests can
 * post protocol messages to the page, click its buttons, and read what it shows and posts back.
 * The stand-in knows only what the script touches: elements found by `[attr="value"]` selectors
 * (one per selector and parent), text nodes, hidden/disabled/title/dataset/classList, a range
 * input that clamps its value to min/max as a browser does, and event listeners.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { repoRoot } from './paths';

type Listener = (e: FakeEvent) => void;
interface FakeEvent {
  key?: string;
  data?: unknown;
  preventDefault(): void;
}

class FakeText {
  constructor(public data: string) {}
  appendData(s: string): void {
    this.data += s;
  }
}

class FakeElement {
  hidden = false;
  disabled = false;
  title = '';
  readonly dataset: Record<string, string> = {};
  private readonly attrs = new Map<string, string>();
  private readonly classes = new Set<string>();
  private readonly found = new Map<string, FakeElement>();
  private readonly listeners = new Map<string, Listener[]>();
  private text: FakeText = new FakeText('');

  constructor(readonly selector: string) {}

  get textContent(): string {
    return this.text.data;
  }
  set textContent(s: string) {
    this.text = new FakeText(s);
  }
  replaceChildren(...nodes: FakeText[]): void {
    this.text = nodes[0] ?? new FakeText('');
  }
  readonly classList = {
    toggle: (c: string, on: boolean) => void (on ? this.classes.add(c) : this.classes.delete(c)),
    contains: (c: string) => this.classes.has(c),
  };
  setAttribute(name: string, value: string): void {
    this.attrs.set(name, value);
  }
  getAttribute(name: string): string | null {
    return this.attrs.get(name) ?? null;
  }
  toggleAttribute(name: string, on: boolean): void {
    if (on) this.attrs.set(name, '');
    else this.attrs.delete(name);
  }
  querySelector(selector: string): FakeElement {
    let el = this.found.get(selector);
    if (!el) {
      el = makeElement(selector);
      this.found.set(selector, el);
    }
    return el;
  }
  addEventListener(type: string, fn: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  dispatch(type: string, init: Partial<FakeEvent> = {}): void {
    for (const fn of this.listeners.get(type) ?? []) fn({ preventDefault: () => {}, ...init });
  }
  /** What a click does in a browser: nothing on a disabled or hidden button. */
  click(): void {
    if (!this.disabled && !this.hidden) this.dispatch('click');
  }
}

class FakeButton extends FakeElement {}
class FakeOutput extends FakeElement {}
class FakeInput extends FakeElement {
  min = '0';
  max = '12';
  private v = '0';
  get value(): string {
    return this.v;
  }
  /** A range input keeps its value within min and max. */
  set value(s: string) {
    this.v = String(Math.min(Number(this.max), Math.max(Number(this.min), Number(s))));
  }
}

function makeElement(selector: string): FakeElement {
  const id = /data-testid="([^"]+)"/.exec(selector)?.[1] ?? '';
  if (id === 'cv-slider') return new FakeInput(selector);
  if (id === 'cv-value') return new FakeOutput(selector);
  if (id === 'cancel' || id === 'rerun-steered' || /^(copy|insert)-/.test(id)) {
    const b = new FakeButton(selector);
    // As in the skeleton (compareHtml.ts).
    b.disabled = id !== 'cancel';
    b.hidden = id === 'cancel' || id.startsWith('insert-');
    return b;
  }
  const el = new FakeElement(selector);
  if (id === 'question') el.textContent = 'Run “KV Steer: Ask with reasoning steering” to compare the answers.';
  return el;
}

export interface CompareView {
  /** Delivers a message from the extension to the page. */
  send(msg: unknown): void;
  /** Everything the page posted to the extension, in order (as the JSON it is sent as). */
  posted: unknown[];
  /** The element with this data-testid. */
  el(testId: string): FakeElement;
  slider: FakeInput;
  /** Presses a key on the whole page. */
  key(key: string): void;
  /** The state the page last saved with setState. */
  saved(): unknown;
}

/** Loads media/compare.js into a fresh stand-in page (with `savedState` as its getState). */
export function loadCompareView(savedState?: unknown): CompareView {
  const doc = new FakeElement('document');
  const body = new FakeElement('body');
  const win = new FakeElement('window');
  const posted: unknown[] = [];
  let state = savedState;
  const context = {
    acquireVsCodeApi: () => ({ postMessage: (m: unknown) => void posted.push(JSON.parse(JSON.stringify(m))), getState: () => state, setState: (s: unknown) => void (state = JSON.parse(JSON.stringify(s))) }),
    document: Object.assign(doc, { body, createTextNode: (s: string) => new FakeText(s) }),
    window: win,
    HTMLElement: FakeElement,
    HTMLButtonElement: FakeButton,
    HTMLInputElement: FakeInput,
    HTMLOutputElement: FakeOutput,
    setTimeout,
    clearTimeout,
  };
  const script = fs.readFileSync(path.join(repoRoot, 'media', 'compare.js'), 'utf8');
  vm.runInNewContext(script, context, { filename: 'compare.js' });
  const el = (testId: string) => doc.querySelector(`[data-testid="${testId}"]`);
  return {
    send: (data) => win.dispatch('message', { data }),
    posted,
    el,
    slider: el('cv-slider') as FakeInput,
    key: (key) => doc.dispatch('keydown', { key }),
    saved: () => state,
  };
}
