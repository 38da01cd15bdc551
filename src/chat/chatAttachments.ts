/**
 * Which of a chat request's references `@kvsteer` reads (participant.ts resolves them to text;
 * engine/promptAttachments.ts lays them out before the question). VS Code-free.
 */

/**
 * Whether a reference the chat input added is one the user means the model to read. What the user
 * attached, and a selection in the active editor (VS Code adds it as implicit context), are; the
 * whole active file or its visible part (also implicit, added to every request when enabled) and
 * instruction files meant for coding agents are not: on a small model they would slow every
 * answer down and pull it off the question.
 */
export function isAttachable(referenceId: string): boolean {
  if (referenceId === 'vscode.implicit.selection') return true;
  return !referenceId.startsWith('vscode.implicit') && !referenceId.startsWith('vscode.prompt.instructions');
}
