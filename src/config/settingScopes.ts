/**
 * Which scope's value of a kvsteer setting counts, and where a choice the user makes is written.
 * VS Code-free: the editor code passes in what `WorkspaceConfiguration.inspect` returns.
 *
 * `kvsteer.model` and `kvsteer.vector` name files to load (and hub ids to download), so a folder's
 * own settings could point kvsteer at files the folder ships. In a folder the user has not trusted
 * (Restricted Mode), only the user's value of those two counts: package.json lists them as
 * `restrictedConfigurations`, which tells VS Code to set the folder's value aside, and kvsteer
 * applies the same rule itself when it reads them.
 */

/** Keys below `kvsteer.` whose workspace values count only in a trusted workspace. */
export const RESTRICTED_SETTINGS = ['model', 'vector'] as const;

/** The part of `WorkspaceConfiguration.inspect()` these rules read. */
export interface InspectedSetting<T = unknown> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export type Inspect = (key: string) => InspectedSetting | undefined;

export function isRestrictedSetting(key: string): boolean {
  return (RESTRICTED_SETTINGS as readonly string[]).includes(key);
}

/** The value that counts in an untrusted workspace: the user's, else the default. */
export function userOrDefaultValue<T>(inspected: InspectedSetting<T> | undefined): T | undefined {
  return inspected?.globalValue ?? inspected?.defaultValue;
}

/**
 * Where a value the user picks (Select model…, Select steering vector…, "Use it now") is written:
 * where it will count. A trusted workspace that sets the key would override a user-level write,
 * so the pick goes to the workspace; otherwise to the user's settings (never into the files of a
 * workspace that is not trusted).
 */
export function pickTarget(key: string, inspect: Inspect, trusted: boolean): 'global' | 'workspace' {
  return trusted && inspect(key)?.workspaceValue !== undefined ? 'workspace' : 'global';
}

/** The log line for a workspace that is not trusted. */
export function restrictedModeMessage(section: string): string {
  const names = RESTRICTED_SETTINGS.map((k) => `${section}.${k}`).join(' and ');
  return `Restricted Mode: ${names} come from your user settings only (a workspace's values name files to load); trust the workspace to use its own.`;
}
