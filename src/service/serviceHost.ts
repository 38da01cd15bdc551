/**
 * Creates the one SteeringService of the extension host (shipped vectors, vectors the user
 * extracted into global storage, a cache folder for GGUF imports) and the log channel, and shows
 * model loading behind a progress notification.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import type { LoadProgress } from '../engine/model/loadModel';
import { SteeringService } from './steeringService';

export interface ServiceHost {
  service: SteeringService;
  log: vscode.LogOutputChannel;
  userVectorDir: string;
  shippedVectorDir: string;
  /** Runs `job` with a notification showing model loading progress, if loading happens. */
  withLoadProgress<T>(job: (onLoad: (p: LoadProgress) => void) => Promise<T>): Promise<T>;
}

export function createServiceHost(context: vscode.ExtensionContext): ServiceHost {
  const log = vscode.window.createOutputChannel('KV Steer', { log: true });
  context.subscriptions.push(log);
  const storage = context.globalStorageUri.fsPath;
  const shippedVectorDir = path.join(context.extensionUri.fsPath, 'vectors');
  const userVectorDir = path.join(storage, 'vectors');
  const service = new SteeringService({
    cacheDir: path.join(storage, 'cache'),
    vectorDirs: [userVectorDir, shippedVectorDir],
    log: (m) => log.info(m),
  });
  context.subscriptions.push({ dispose: () => void service.dispose() });
  const withLoadProgress = async <T>(job: (onLoad: (p: LoadProgress) => void) => Promise<T>): Promise<T> => {
    // The notification appears only once loading actually starts (a resident model needs none).
    let progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    let pending: LoadProgress | undefined;
    let finish: (() => void) | undefined;
    let done = 0;
    const show = (p: LoadProgress) => {
      const frac = p.fraction ?? done;
      progress!.report({ message: p.message, increment: Math.max(0, (frac - done) * 100) });
      done = Math.max(done, frac);
    };
    const onLoad = (p: LoadProgress) => {
      if (progress) show(p);
      else if (!finish) {
        pending = p;
        const closed = new Promise<void>((resolve) => (finish = resolve));
        void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'KV Steer' }, async (pr) => {
          progress = pr;
          if (pending) show(pending);
          await closed;
        });
      } else pending = p;
      if (p.stage === 'ready') finish?.();
    };
    try {
      return await job(onLoad);
    } finally {
      finish?.();
    }
  };
  return { service, log, userVectorDir, shippedVectorDir, withLoadProgress };
}
