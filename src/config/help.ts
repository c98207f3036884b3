// The settings as the command line's help (`eventbus --help`) and docs/settings.md show them: the table of
// settings.ts, each with its flag, the value it takes, the default as shown and one line of description.
import { CONSUMER_PREFIX, flagFor, SETTINGS } from './settings.js';

/** A setting as the command line's help shows it. */
export interface SettingHelp {
  readonly env: string;
  /** Without its dashes: `http-port`. */
  readonly flag: string;
  /** The flag's value as the help names it: `<port>`. */
  readonly value: string;
  readonly default: string | undefined;
  readonly description: string;
}

/** Every setting, in the order of the table. */
export const SETTINGS_HELP: readonly SettingHelp[] = Object.values(SETTINGS).map((s) => ({
  env: s.env,
  flag: flagFor(s.env),
  value: s.value,
  default: 'shown' in s ? s.shown : s.default,
  description: s.description,
}));

/** The setting that has no flag: any number of push consumers, one variable each. */
export const CONSUMER_SETTING_HELP = {
  env: `${CONSUMER_PREFIX}<ID>`,
  description: '<proto>://<host>:<port>[/path] [pattern ...]: registers push consumer <id> at start-up, as REGISTER does',
} as const;
