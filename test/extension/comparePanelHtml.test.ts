/**
 * The compare webview without VS Code: the HTML skeleton from renderCompareHtml (CSP, the one
 * nonce'd script, no inline handlers or styles, every data-testid the e2e tests and
 * media/compare.js rely on) and the webview script's own habits (`// @ts-check`, model text
 * never parsed as HTML).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderCompareHtml } from '../../src/webview/compareHtml';
import { repoRoot } from '../support/paths';

const input = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  nonce: 'q0Yx+9Jw/3u1ZbT8aK2c4A==',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/compare.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/compare.css',
};
const html = renderCompareHtml(input);

const TEST_IDS = [
  'question',
  'answer-baseline',
  'answer-steered',
  'stats-baseline',
  'stats-steered',
  'error-baseline',
  'error-steered',
  'status',
  'cv-slider',
  'cv-value',
  'rerun-steered',
  'copy-baseline',
  'copy-steered',
  'insert-baseline',
  'insert-steered',
  'cancel',
];
const STATS = ['tokens', 'msPerToken', 'totalMs'];

/** The opening tag of the one element with this data-testid. */
function tagOf(doc: string, testId: string): string {
  const tags = doc.match(new RegExp(`<[a-z][a-z0-9]*\\b[^>]*\\bdata-testid="${testId}"[^>]*>`, 'g')) ?? [];
  assert.equal(tags.length, 1, `exactly one element has data-testid="${testId}" (found ${tags.length})`);
  return tags[0];
}

/** The markup between the opening tag with this data-testid and its closing tag (no nesting of the same tag name assumed). */
function innerOf(doc: string, testId: string): string {
  const open = tagOf(doc, testId);
  const name = /^<([a-z0-9]+)/.exec(open)![1];
  const start = doc.indexOf(open) + open.length;
  const end = doc.indexOf(`</${name}>`, start);
  assert.ok(end > start, `the element with data-testid="${testId}" is closed`);
  return doc.slice(start, end);
}

test('the CSP allows nothing by default and scripts only with the nonce', () => {
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(meta, 'a CSP meta tag');
  const csp = meta[1];
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => [d.split(/\s+/)[0], d.split(/\s+/).slice(1)] as const),
  );
  assert.deepEqual(directives.get('default-src'), ["'none'"]);
  assert.deepEqual(directives.get('script-src'), [`'nonce-${input.nonce}'`]);
  assert.deepEqual(directives.get('style-src'), [input.cspSource]);
  assert.deepEqual(directives.get('img-src'), [input.cspSource]);
  assert.deepEqual(directives.get('font-src'), [input.cspSource]);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
});

test('the only script tag carries the nonce and loads the given script', () => {
  const scripts = html.match(/<script\b[^>]*>/g) ?? [];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0], new RegExp(`\\bnonce="${input.nonce.replace(/[+/=]/g, '\\$&')}"`));
  assert.ok(scripts[0].includes(`src="${input.scriptUri}"`), scripts[0]);
  assert.match(html, /<script\b[^>]*><\/script>/, 'the script has no inline body');
  assert.ok(html.includes(`<link rel="stylesheet" href="${input.styleUri}">`));
});

test('no inline event handlers, inline styles or javascript: URLs', () => {
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i);
  assert.doesNotMatch(html, /\sstyle\s*=/i);
  assert.doesNotMatch(html, /<style\b/i);
  assert.doesNotMatch(html, /javascript:/i);
});

test('attribute values are escaped', () => {
  const evil = renderCompareHtml({ ...input, scriptUri: 'x"><img src=y onerror=alert(1)>' });
  assert.ok(!evil.includes('"><img'));
  assert.equal((evil.match(/<img\b/g) ?? []).length, 0);
});

test('every data-testid the tests rely on is in the skeleton, once', () => {
  for (const id of TEST_IDS) tagOf(html, id);
});

test('each stats element holds tokens, msPerToken and totalMs, empty until filled', () => {
  for (const side of ['baseline', 'steered']) {
    const inner = innerOf(html, `stats-${side}`);
    for (const stat of STATS) {
      const m = new RegExp(`<[a-z]+ data-stat="${stat}"></[a-z]+>`).exec(inner);
      assert.ok(m, `stats-${side} has an empty [data-stat="${stat}"] element`);
    }
  }
});

test('columns start idle, answers are polite live regions, the slider spans 0-12 in steps of 0.5', () => {
  for (const side of ['baseline', 'steered']) {
    assert.match(tagOf(html, `column-${side}`), /\bdata-state="idle"/);
    const answer = tagOf(html, `answer-${side}`);
    assert.match(answer, /\baria-live="polite"/);
    assert.match(answer, /\baria-label="[^"]+"/);
    assert.match(tagOf(html, `copy-${side}`), /^<button type="button"[^>]*\baria-label="[^"]+"/);
  }
  assert.match(tagOf(html, 'status'), /\baria-live="polite"/);
  const slider = tagOf(html, 'cv-slider');
  assert.match(slider, /^<input type="range"/);
  assert.match(slider, /\bmin="0"/);
  assert.match(slider, /\bmax="12"/);
  assert.match(slider, /\bstep="0.5"/);
  assert.match(slider, /\baria-label="[^"]+"/);
  assert.match(tagOf(html, 'rerun-steered'), /^<button type="button"/);
  assert.match(tagOf(html, 'cancel'), /^<button type="button"[^>]*\bhidden\b/);
  // The strength controls sit inside the steered column.
  assert.ok(innerOfSection(html, 'steered').includes('data-testid="cv-slider"'));
});

function innerOfSection(doc: string, side: string): string {
  const open = tagOf(doc, `column-${side}`);
  const start = doc.indexOf(open);
  return doc.slice(start, doc.indexOf('</section>', start));
}

const scriptPath = path.join(repoRoot, 'media', 'compare.js');
const script = fs.readFileSync(scriptPath, 'utf8');

test('media/compare.js is type-checked and never parses text as HTML', () => {
  assert.ok(script.startsWith('// @ts-check'), 'starts with // @ts-check');
  for (const api of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) {
    assert.ok(!script.includes(api), `media/compare.js uses ${api}`);
  }
  assert.equal((script.match(/\.acquireVsCodeApi\(\)/g) ?? []).length, 1, 'acquireVsCodeApi() is called once');
});

test('every data-testid that media/compare.js looks up is in the skeleton', () => {
  const ids = new Set<string>();
  for (const m of script.matchAll(/byTestId\((?:'([^']+)'|`([^`]+)`)\)|data-testid="([^"]+)"/g)) {
    const id = m[1] ?? m[2] ?? m[3];
    if (id === '${id}') continue; // the look-up helper itself
    if (id.includes('${side}')) for (const side of ['baseline', 'steered']) ids.add(id.replace('${side}', side));
    else ids.add(id);
  }
  assert.ok(ids.size >= TEST_IDS.length, `found the look-ups (${ids.size})`);
  for (const id of ids) assert.ok(html.includes(`data-testid="${id}"`), `compare.js looks up data-testid="${id}", which the skeleton lacks`);
});

test('the HTML module and the protocol stay free of vscode', () => {
  for (const f of ['compareHtml.ts', 'protocol.ts']) {
    const src = fs.readFileSync(path.join(repoRoot, 'src', 'webview', f), 'utf8');
    assert.doesNotMatch(src, /from 'vscode'|require\('vscode'\)/, f);
  }
});

test('a long question (a large selection) scrolls in a box of its own, reachable by keyboard, instead of pushing the answers off screen', () => {
  const css = fs.readFileSync(path.join(repoRoot, 'media', 'compare.css'), 'utf8');
  const rule = /(?:^|\n)\.question \{([^}]*)\}/.exec(css)?.[1] ?? '';
  assert.match(rule, /\bmax-height:\s*[^;]+;/);
  assert.match(rule, /\boverflow-y:\s*auto;/);
  assert.match(tagOf(html, 'question'), /\btabindex="0"/);
});
