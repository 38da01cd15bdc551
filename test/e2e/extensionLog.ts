/**
 * kvsteer's output channel as the server writes it (KV Steer.log): waiting for a line while the
 * server runs, and echoing the lines worth keeping in the test output once it has stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const LOG_NAME = 'KV Steer.log';

function logFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith(LOG_NAME)).map((f) => path.join(dir, f)) : [];
}

/**
 * The first line of the extension's log matching `re`, polling while it is written (a running
 * server keeps its logs under `<userDataDir>/logs`).
 */
export async function waitForLogLine(userDataDir: string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of logFiles(path.join(userDataDir, 'logs'))) {
      const line = fs.readFileSync(f, 'utf8').split('\n').find((l) => re.test(l));
      if (line) return line;
    }
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in the extension's log within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Prints the log lines matching `re` from a stopped server's copied logs, for the record. */
export function reportLogLines(logsDir: string, re: RegExp): void {
  for (const f of logFiles(logsDir)) {
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      if (re.test(line)) console.log(`# extension log: ${line.trim()}`);
    }
  }
}
