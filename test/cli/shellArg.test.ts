/** Paths that `kvsteer models` prints for pasting into a command line reach the shell as one word, unexpanded. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { shellArg } from '../../src/cli/shellArg';

test('a printed path is one word to the shell, with $, backquotes, quotes and spaces kept as written', () => {
  const paths = ['/home/ada/.lmstudio/models/x/y-Q4_K_M.gguf', '/m/My Models/a b.gguf', '/m/$HOME/`id`/x.gguf', "/m/it's/x.gguf", '/m/a!b/x.gguf', '/m/back\\slash.gguf'];
  for (const p of paths) {
    // What `sh -c 'printf %s <word>'` prints is the word as the shell read it.
    assert.equal(execFileSync('sh', ['-c', `printf %s ${shellArg(p, 'linux')}`], { encoding: 'utf8' }), p, p);
  }
  assert.equal(shellArg('/plain/path-1.2/x.gguf', 'linux'), '/plain/path-1.2/x.gguf');
  assert.equal(shellArg('C:\\Users\\Ada\\x.gguf', 'win32'), 'C:\\Users\\Ada\\x.gguf');
  assert.equal(shellArg('C:\\My Models\\x.gguf', 'win32'), '"C:\\My Models\\x.gguf"');
});
