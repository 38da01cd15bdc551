/**
 * How a failed language-model request is told to its caller, free of the `vscode` module. VS Code
 * asks providers to throw a vscode.LanguageModelError, whose `code` callers branch on: `NotFound`
 * where what the model needs does not exist (its file or Ollama name, the steered model's vector
 * file, or a model id kvsteer does not list); else kvsteer's own code in the same style
 * (`InvalidArgument` for a bad request, `PromptTooLong`, `VectorMismatch`, `Cancelled`, …); and
 * `Unknown` for an error kvsteer did not expect, kept as the `cause`. provider.ts makes the
 * vscode.LanguageModelError from a LanguageModelFailure.
 */
import { isKvsteerError, type KvsteerErrorCode } from '../engine/util/errors';

export class LanguageModelFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LanguageModelFailure';
  }
}

/**
 * kvsteer's error code in the style of VS Code's code names (LanguageModelError.NotFound.name is
 * "NotFound"): a missing file is VS Code's own NotFound, any other code its PascalCase spelling
 * (PROMPT_TOO_LONG → PromptTooLong).
 */
function languageModelCode(code: KvsteerErrorCode): string {
  if (code === 'FILE_NOT_FOUND') return 'NotFound';
  return code.toLowerCase().replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Any error as a LanguageModelFailure with kvsteer's message; the original is its cause. */
export function toLanguageModelFailure(e: unknown): LanguageModelFailure {
  if (e instanceof LanguageModelFailure) return e;
  if (isKvsteerError(e)) return new LanguageModelFailure(languageModelCode(e.code), e.message, { cause: e });
  return new LanguageModelFailure('Unknown', e instanceof Error ? e.message : String(e), { cause: e });
}
