/**
 * Runs media/compare.js in Node against a small stand-in for the webview's DOM, so that tests can
 * post protocol messages to the page, click its buttons, and read what it shows and posts back.
 * The stand-in knows only what the script touches: elements found by `[attr="value"]` selectors
 * (one per selector and parent), text nodes, hidden/disabled/title/dataset/classList, a range
 * input that clamps its value to min/max as a browser does, event listeners, and keyboard focus as
 * a browser keeps it: `focus()` is taken only by a shown, enabled button or input or an element
 * with a tabindex (with a focusin on the document), and an element hidden (itself or with its
 * column) or disabled under the focus loses it to the body.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { repoRoot } from './paths';

type Listener = (e: FakeEvent) => void;
interface FakeEvent {
  key?: string;
  data?: unknown;
  target?: unknown;
  preventDefault(): void;
}

class FakeText {
  constructor(public data: string) {}
  appendData(s: string): void {
    this.data += s;
  }
}

/** One page's keyboard focus: the element that has it, and whether the page itself has it. */
class PageFocus {
  readonly doc: FakeElement = new FakeElement('document', this);
  active: FakeElement | null = null;
  /** False while the user is elsewhere (in the editor): the page keeps its `active` element for when they come back. */
  pageHasFocus = false;
  /** The focus fixup rule: an element that can no longer take focus leaves it to the body. */
  fixup(): void {
    if (this.active && !this.active.focusable) this.active = null;
  }
}

class FakeElement {
  title = '';
  /** The column the element sits in (as in the skeleton): hidden with it. */
  column: FakeElement | null = null;
  readonly dataset: Record<string, string> = {};
  private readonly attrs = new Map<string, string>();
  private readonly classes = new Set<string>();
  private readonly found = new Map<string, FakeElement>();
  private readonly listeners = new Map<string, Listener[]>();
  private text: FakeText = new FakeText('');
  private isHidden = false;
  private isDisabled = false;

  constructor(
    readonly selector: string,
    readonly page: PageFocus,
  ) {}

  get hidden(): boolean {
    return this.isHidden;
  }
  set hidden(on: boolean) {
    this.isHidden = on;
    this.page.fixup();
  }
  get disabled(): boolean {
    return this.isDisabled;
  }
  set disabled(on: boolean) {
    this.isDisabled = on;
    this.page.fixup();
  }
  /** Neither it nor its column is hidden. */
  get rendered(): boolean {
    return !this.hidden && (this.column?.rendered ?? true);
  }
  /** A shown, enabled button or input, or a shown element with a tabindex. */
  get focusable(): boolean {
    const kind = this instanceof FakeButton || this instanceof FakeInput || this.attrs.has('tabindex');
    return kind && !this.disabled && this.rendered;
  }
  /** What focus() does in a browser: nothing on an element that cannot take focus; else it, and the page, take focus (a focusin that bubbles to the document). */
  focus(): void {
    if (!this.focusable) return;
    const was = this.page.active;
    this.page.active = this;
    this.page.pageHasFocus = true;
    if (was !== this) this.page.doc.dispatch('focusin', { target: this });
  }

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
      el = makeElement(selector, this.page);
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

/** The column an element of the skeleton (compareHtml.ts) sits in, by its data-testid. */
function columnOf(id: string): string | null {
  if (id === 'cv-slider' || id === 'cv-value' || id === 'steered-cv') return 'steered';
  return /^(?:answer|badge|copy|error|insert|rerun|stats)-(baseline|steered)$/.exec(id)?.[1] ?? null;
}

function makeElement(selector: string, page: PageFocus): FakeElement {
  const id = /data-testid="([^"]+)"/.exec(selector)?.[1] ?? '';
  const el = newElement(selector, id, page);
  const side = columnOf(id);
  if (side) el.column = page.doc.querySelector(`[data-testid="column-${side}"]`);
  return el;
}

function newElement(selector: string, id: string, page: PageFocus): FakeElement {
  if (id === 'cv-slider') return new FakeInput(selector, page);
  if (id === 'cv-value') return new FakeOutput(selector, page);
  if (id === 'cancel' || id === 'rerun-steered' || /^(copy|insert)-/.test(id)) {
    const b = new FakeButton(selector, page);
    // As in the skeleton (compareHtml.ts).
    b.disabled = id !== 'cancel';
    b.hidden = id === 'cancel' || id.startsWith('insert-');
    return b;
  }
  const el = new FakeElement(selector, page);
  if (id === 'question') el.textContent = 'Run “KV Steer: Ask with reasoning steering” to compare the answers.';
  // As in the skeleton: the question and the answers can be focused to scroll them by keyboard.
  if (id === 'question' || id.startsWith('answer-')) el.setAttribute('tabindex', '0');
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
  /** The data-testid of `document.activeElement`, or 'body'. */
  focused(): string;
  /** Whether the page has focus (`document.hasFocus()`), not the editor around it. */
  hasFocus(): boolean;
  /**
   * The user moves to the editor: the page loses focus but keeps its active element for their
   * return, as a browser does; unless `panelHidden` (another tab in front of the panel), whose
   * hidden frame loses its focused element to the body.
   */
  leave(opts?: { panelHidden?: boolean }): void;
  /** The user comes back to the page: it takes the focus again, and its window gets a focus event. */
  comeBack(): void;
}

/** Loads media/compare.js into a fresh stand-in page (with `savedState` as its getState). */
export function loadCompareView(savedState?: unknown): CompareView {
  const focus = new PageFocus();
  const doc = focus.doc;
  const body = new FakeElement('body', focus);
  const win = new FakeElement('window', focus);
  const posted: unknown[] = [];
  let state = savedState;
  const document = Object.assign(doc, {
    body,
    createTextNode: (s: string) => new FakeText(s),
    hasFocus: () => focus.pageHasFocus,
  });
  Object.defineProperty(document, 'activeElement', { get: () => focus.active ?? body });
  const context = {
    acquireVsCodeApi: () => ({ postMessage: (m: unknown) => void posted.push(JSON.parse(JSON.stringify(m))), getState: () => state, setState: (s: unknown) => void (state = JSON.parse(JSON.stringify(s))) }),
    document,
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
    focused: () => (focus.active ? (/data-testid="([^"]+)"/.exec(focus.active.selector)?.[1] ?? focus.active.selector) : 'body'),
    hasFocus: () => focus.pageHasFocus,
    leave: (opts) => {
      focus.pageHasFocus = false;
      if (opts?.panelHidden) focus.active = null;
    },
    comeBack: () => {
      focus.pageHasFocus = true;
      win.dispatch('focus');
    },
  };
}
