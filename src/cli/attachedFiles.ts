/**
 * `kvsteer ask --file PATH` (repeatable): the files read as attachments for the question, before
 * the model loads, so a wrong path costs no load. A missing file or a folder is an error naming
 * it; a file with NUL bytes (binary) is left out by name, as `@kvsteer` does. Only the start of a
 * file that the attachment budget can use is read, so a log of gigabytes attaches cut, as a short
 * file past the budget does (NUL bytes are looked for in that start).
 */
import * as fs from 'node:fs';
import { KvsteerError } from '../engine/util/errors';
import { MAX_ATTACHED_CHARS, type PromptAttachment } from '../engine/promptAttachments';
import type { Flags } from './args';

/**
 * Bytes read of each file: a UTF-16 unit takes at most 3 bytes of UTF-8, so this holds more than
 * the whole budget in any text, and a character that the bound splits lies past the budget.
 */
const MAX_READ_BYTES = 3 * (MAX_ATTACHED_CHARS + 2);

export function readAttachedFiles(flags: Flags): PromptAttachment[] {
  const raw = flags.file;
  const files = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  return files.map((file) => {
    let bytes: Buffer;
    try {
      bytes = readStart(file, MAX_READ_BYTES);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new KvsteerError('FILE_NOT_FOUND', `--file ${file}: no such file`);
      if (code === 'EISDIR') throw new KvsteerError('INVALID_ARGUMENT', `--file ${file}: a folder, not a file`);
      throw new KvsteerError('INVALID_ARGUMENT', `--file ${file}: ${(e as Error).message}`);
    }
    return bytes.includes(0) ? { name: file, text: '', unreadable: 'not text' } : { name: file, text: bytes.toString('utf8') };
  });
}

/** The first `max` bytes of a file (all of a shorter one). */
function readStart(file: string, max: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    let n = 0;
    while (n < max) {
      const got = fs.readSync(fd, buf, n, max - n, n);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
