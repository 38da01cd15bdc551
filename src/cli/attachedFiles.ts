/**
 * `kvsteer ask --file PATH` (repeatable): the files read as attachments for the question, before
 * the model loads, so a wrong path costs no load. A missing file or a folder is an error naming
 * it; a file with NUL bytes (binary) is left out by name, as `@kvsteer` does.
 */
import * as fs from 'node:fs';
import { KvsteerError } from '../engine/util/errors';
import type { PromptAttachment } from '../engine/promptAttachments';
import type { Flags } from './args';

export function readAttachedFiles(flags: Flags): PromptAttachment[] {
  const raw = flags.file;
  const files = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  return files.map((file) => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new KvsteerError('FILE_NOT_FOUND', `--file ${file}: no such file`);
      if (code === 'EISDIR') throw new KvsteerError('INVALID_ARGUMENT', `--file ${file}: a folder, not a file`);
      throw new KvsteerError('INVALID_ARGUMENT', `--file ${file}: ${(e as Error).message}`);
    }
    return bytes.includes(0) ? { name: file, text: '', unreadable: 'not text' } : { name: file, text: bytes.toString('utf8') };
  });
}
