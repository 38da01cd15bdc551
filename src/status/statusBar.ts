/** The status bar item: shows idle / loading / generating / extracting and opens model selection on click. */
import * as vscode from 'vscode';
import { COMMANDS } from '../ids';
import { ServiceHost } from '../service/serviceHost';
import { ServiceState } from '../service/steeringService';

const TEXT: Record<ServiceState, string> = {
  idle: '$(sparkle) KV Steer',
  loading: '$(loading~spin) KV Steer: loading',
  generating: '$(loading~spin) KV Steer: generating',
  extracting: '$(loading~spin) KV Steer: extracting',
};

export function registerStatusBar(context: vscode.ExtensionContext, host: ServiceHost): void {
  const item = vscode.window.createStatusBarItem('kvsteer.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'KV Steer';
  item.command = COMMANDS.selectModel;
  const render = (s: ServiceState) => {
    item.text = TEXT[s];
    const model = host.service.loadedModel?.name;
    item.tooltip = `KV Steer: ${s}${model ? ` · ${model} loaded` : ' · no model loaded'} — click to select the model`;
  };
  render(host.service.state);
  item.show();
  context.subscriptions.push(item, host.service.onStateChange(render));
}
