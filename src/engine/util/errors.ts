/**
 * The one error type the engine throws for problems a user can act on: a missing file, a corrupt
 * GGUF, a vector made for another model, a bad strength. `code` lets callers (CLI, extension)
 * branch without parsing messages; `message` is written for the user and names the file and the
 * problem.
 */

export type KvsteerErrorCode =
  | 'FILE_NOT_FOUND'
  | 'GGUF_CORRUPT'
  | 'GGUF_UNSUPPORTED'
  | 'MODEL_LOAD_FAILED'
  | 'VECTOR_INVALID'
  | 'VECTOR_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'PROMPT_TOO_LONG'
  | 'CANCELLED'
  | 'DATA_INVALID'
  | 'DISK_FULL'
  | 'WRITE_FAILED';

export class KvsteerError extends Error {
  constructor(
    readonly code: KvsteerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KvsteerError';
  }
}

/** The error an aborted operation throws; checked with `isCancellation`. */
export function cancelledError(what: string): KvsteerError {
  return new KvsteerError('CANCELLED', `${what} was cancelled`);
}

/**
 * Structural checks rather than instanceof: the extension's editor bundle and its lazily loaded
 * engine bundle each hold a copy of this class.
 */
export function isKvsteerError(e: unknown): e is KvsteerError {
  return e instanceof Error && e.name === 'KvsteerError' && typeof (e as KvsteerError).code === 'string';
}

export function isCancellation(e: unknown): boolean {
  return isKvsteerError(e) && e.code === 'CANCELLED';
}

/** Throws the cancellation error when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw cancelledError(what);
}

/**
 * Says what a failed write means for the user: a full disk, a place they cannot write to, or a path
 * that is not a folder where one is needed (or is one where a file is), naming the target and what
 * was kept. Any other error (including a KvsteerError) passes through as is.
 */
export function describeWriteError(e: unknown, target: string, kept = 'nothing was written there'): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new KvsteerError('DISK_FULL', `${target}: the disk is full (${code}); ${kept}. Free some space and try again.`, { cause: e });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new KvsteerError('WRITE_FAILED', `${target}: cannot write there (${code}); ${kept}.`, { cause: e });
  }
  const path = {
    ENOTDIR: 'a part of the path is a file, not a folder',
    EEXIST: 'a file is in the way of a folder',
    EISDIR: 'it is a folder',
    ENOENT: 'its folder does not exist',
  }[code ?? ''];
  if (path) return new KvsteerError('WRITE_FAILED', `${target}: cannot write there (${path}); ${kept}.`, { cause: e });
  return e;
}
