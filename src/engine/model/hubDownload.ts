/**
 * Hub downloads as kvsteer reports them: progress over the bytes of every file fetched (not per
 * file, and not files read from transformers.js's cache), network failures told apart from
 * other load errors and named by the files that were in transfer, repositories without the graph
 * kvsteer runs refused before any download, and that graph fetched on its own (see downloadHubFile).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KvsteerError } from '../util/errors';
import { removeIfWriterGone, removeStaleTempSiblings, tempSibling } from '../util/atomicWrite';
import type { LoadProgress } from './loadModel';

/** transformers.js's progress events, as far as they are used here. */
export interface ProgressInfo {
  status: string;
  file?: string;
  loaded?: number;
  total?: number;
  /** 'progress_total': every file of the model's from_pretrained, sizes known before they start. */
  files?: Record<string, { loaded: number; total: number }>;
}

/** Paths (with "/") of the files under a hub model's cache folder. */
export function cachedFiles(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out.add(r);
    }
  };
  walk('');
  return out;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Download progress over all the files fetched: transformers.js reports each file's bytes
 * separately (and reads from its cache as progress too). Files that were in the cache are not
 * downloads. The fraction waits for the model's 'progress_total' event, which brings the sizes
 * of the large files: before it, the small tokenizer files alone would fill the bar.
 */
export function downloadReporter(id: string, cached: ReadonlySet<string>, report: (p: LoadProgress) => void): (info: ProgressInfo) => void {
  const files = new Map<string, { loaded: number; total: number }>();
  let sizesKnown = false;
  return (info) => {
    if (info.status === 'progress_total' && info.files) {
      sizesKnown = true;
      for (const [f, v] of Object.entries(info.files)) if (!cached.has(f)) files.set(f, { loaded: v.loaded, total: v.total });
      return;
    }
    if (info.status !== 'progress' || !info.file || cached.has(info.file)) return;
    files.set(info.file, { loaded: info.loaded ?? 0, total: info.total ?? 0 });
    let loaded = 0;
    let total = 0;
    for (const v of files.values()) {
      loaded += v.loaded;
      total += Math.max(v.total, v.loaded);
    }
    const known = sizesKnown && total > 0;
    report({
      stage: 'download',
      file: info.file,
      fraction: known ? loaded / total : undefined,
      message: `Downloading ${id}: ${info.file}${known ? ` (${mb(loaded)} of ${mb(total)})` : ''}`,
    });
  };
}

/**
 * What broke when a download failed for want of a network (Node's fetch: "fetch failed" caused by
 * ENOTFOUND, ECONNREFUSED…; "terminated" when a response breaks off), else undefined.
 */
export function networkFailure(e: unknown): string | undefined {
  const chain: Error[] = [];
  for (let x: unknown = e; x instanceof Error && chain.length < 8; x = x.cause) chain.push(x);
  const network = /fetch failed|terminated|ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|UND_ERR/;
  if (!chain.some((x) => network.test(`${x.message} ${(x as NodeJS.ErrnoException).code ?? ''}`))) return undefined;
  // The innermost error says the most ("getaddrinfo ENOTFOUND huggingface.co").
  const last = chain[chain.length - 1];
  return last.message || (last as NodeJS.ErrnoException).code || 'network error';
}

/** A response body that broke off: names the URL, its cause the error the body stream gave. */
export class BrokenTransfer extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`${url} broke off`, { cause });
    this.name = 'BrokenTransfer';
  }
}

type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;
const NAMES_TRANSFERS = Symbol('kvsteer.namesTransfers');

/**
 * `fetchFn` with response bodies that fail as BrokenTransfer: Node's own error ("terminated")
 * does not say which of the files downloading side by side broke off. Wrapping twice is a no-op.
 */
export function namingTransfers(fetchFn: Fetch): Fetch {
  if (NAMES_TRANSFERS in fetchFn) return fetchFn;
  const wrapped = async (input: string | URL, init?: RequestInit) => {
    const res = await fetchFn(input, init);
    if (!res.body) return res;
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        try {
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        } catch (e) {
          c.error(new BrokenTransfer(input.toString(), e));
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return Object.assign(wrapped, { [NAMES_TRANSFERS]: true });
}

/** The URL of the transfer that broke off in `e`'s chain of causes, if one did. */
export function brokenTransferUrl(e: unknown): string | undefined {
  for (let x: unknown = e, n = 0; x instanceof Error && n < 8; x = x.cause, n++) if (x instanceof BrokenTransfer) return x.url;
  return undefined;
}

/** Where a hub file is fetched from, as transformers.js builds it for the main revision. */
export function hubFileUrl(remoteHost: string, remotePathTemplate: string, id: string, file: string): string {
  const repoPath = remotePathTemplate.replaceAll('{model}', id).replaceAll('{revision}', 'main');
  return [remoteHost.replace(/\/+$/, ''), repoPath.replace(/^\/+|\/+$/g, ''), file].join('/');
}

/**
 * Fetches one hub file to `dest` (where transformers.js's cache keeps it), reporting progress as
 * transformers.js's events. It is written to a temporary file renamed only once complete, so a
 * broken transfer leaves nothing a retry would take for the file. kvsteer fetches the graph so,
 * before transformers.js loads the model: transformers.js starts the graph's download beside the
 * external data's and leaves its rejection unhandled when it breaks (Node then crashes the CLI).
 * `token` (HF_TOKEN) is sent to huggingface.co only, as transformers.js does.
 */
export async function downloadHubFile(
  fetchFn: (url: string, init?: RequestInit) => Promise<Response>,
  url: string,
  file: string,
  dest: string,
  onProgress: (info: ProgressInfo) => void,
  token?: string,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (token && /^(huggingface\.co|hf\.co)$/.test(new URL(url).hostname)) headers.Authorization = `Bearer ${token}`;
  onProgress({ status: 'download', file });
  const res = await fetchFn(url, { headers });
  if (res.status !== 200 || !res.body) throw new Error(`${url} answered ${res.status} ${res.statusText}`.trim());
  const total = Number(res.headers.get('content-length') ?? 0);
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  const tmp = tempSibling(dest);
  try {
    const out = await fs.promises.open(tmp, 'w');
    let loaded = 0;
    try {
      const reader = res.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        await out.write(r.value);
        loaded += r.value.length;
        onProgress({ status: 'progress', file, loaded, total });
      }
    } finally {
      await out.close();
    }
    if (total && loaded !== total) throw new Error(`${url} ended after ${loaded} of ${total} bytes`);
    await fs.promises.rename(tmp, dest);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  onProgress({ status: 'done', file });
}

/**
 * Removes the partial downloads that processes killed mid-download left in a model's hub cache
 * folder: transformers.js's `<file>.tmp.<pid>.<random>`, and the temporary siblings of the weights
 * kvsteer downloads itself (downloadHubFile). Nothing else removes them, and one can be as large as
 * the weights. A live process's are its own.
 */
export function removeStaleDownloads(repoDir: string): void {
  for (const f of HUB_WEIGHTS) removeStaleTempSiblings(path.join(repoDir, f));
  let entries: string[];
  try {
    entries = fs.readdirSync(repoDir, { recursive: true, encoding: 'utf8' });
  } catch {
    return;
  }
  for (const e of entries) removeIfWriterGone(path.join(repoDir, e), Number(/\.tmp\.(\d+)\.[0-9a-z]+$/.exec(e)?.[1]));
}

/** The graph kvsteer runs: fp32, with past_key_values inputs. */
export const HUB_GRAPH = 'onnx/model.onnx';

/**
 * The other graphs a repository may ship instead, as transformers.js's dtypes name them (fp16,
 * int8, uint8, q8, q4, q2, q1, q4f16, q2f16, q1f16, bnb4; its DEFAULT_DTYPE_SUFFIX_MAPPING).
 */
const OTHER_GRAPHS = ['_fp16', '_int8', '_uint8', '_quantized', '_q4', '_q2', '_q1', '_q4f16', '_q2f16', '_q1f16', '_bnb4'].map((s) => `onnx/model${s}.onnx`);

/**
 * Refuses a hub repository that has no onnx/model.onnx, naming the graphs it has instead (onnx-
 * community repositories often ship only quantized ones). Asked before transformers.js loads the
 * model: its own error names the missing file only, and, when the graph's external data is missing
 * too, it leaves the graph's rejected download unhandled. `exists` asks the hub about one file;
 * its network errors propagate.
 */
export async function requireHubGraph(id: string, host: string, exists: (file: string) => Promise<boolean>): Promise<void> {
  if (await exists(HUB_GRAPH)) return;
  const present = await Promise.all(OTHER_GRAPHS.map(async (f) => ((await exists(f)) ? f : undefined)));
  const others = present.filter((f): f is string => f !== undefined);
  throw new KvsteerError(
    'MODEL_LOAD_FAILED',
    `${id} on ${host} has no ${HUB_GRAPH}: kvsteer needs that fp32 graph, with past_key_values inputs, and loads no quantized or fp16 one; ` +
      (others.length ? `the repository has ${others.join(', ')}` : 'the repository has no other graph in onnx/ either'),
  );
}

/** Free bytes on the file system where `dir` is, or would be made; undefined where it cannot say. */
export function freeBytes(dir: string): number | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const s = fs.statfsSync(d);
      return s.bavail * s.bsize;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(d) === d) return undefined;
    }
  }
}

/** The graph and its external data: all but a few KB of a download. */
const HUB_WEIGHTS = [HUB_GRAPH, `${HUB_GRAPH}_data`];

/**
 * Refuses a download that cannot fit in `dir`, before it starts. Needed because transformers.js's
 * cache write has no handler for its file stream's errors: a disk that fills mid-download ends
 * the process with a bare ENOSPC stack trace instead of failing the load. `size` gives the bytes
 * a file still needs (0 for one cached or absent).
 */
export async function requireRoomForDownload(id: string, dir: string, size: (file: string) => Promise<number>, free = freeBytes(dir)): Promise<void> {
  if (free === undefined) return;
  const needed = (await Promise.all(HUB_WEIGHTS.map(size))).reduce((a, b) => a + b, 0);
  if (needed > free) {
    throw new KvsteerError('DISK_FULL', `${dir}: the disk is full (ENOSPC): downloading ${id} needs ${mb(needed)}, ${mb(free)} are free; nothing was downloaded. Free some space and try again.`);
  }
}
