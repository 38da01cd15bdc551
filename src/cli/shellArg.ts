/**
 * A path as one word for the user's shell, to paste into a command line: bare when it holds only
 * characters no shell reads specially, else single-quoted for POSIX shells (where double quotes
 * still expand `$`, backquotes and, in bash, `!`), or double-quoted on Windows.
 */
export function shellArg(word: string, platform: NodeJS.Platform = process.platform): string {
  if (/^[\w@%+=:,./\\-]+$/.test(word) && (platform === 'win32' || !word.includes('\\'))) return word;
  if (platform === 'win32') return `"${word}"`;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
