// Where the operator commands of the command line (PROTOCOL.md §9) find a running broker unless told:
// EVENTBUS_URL, EVENTBUS_TOKEN and EVENTBUS_CA. Not settings of the broker, but names parse.ts must know, since
// a shell that sets them may start a broker too.
import { SETTINGS } from './settings.js';

const URL_VARIABLE = 'EVENTBUS_URL';
const CA_VARIABLE = 'EVENTBUS_CA';

/** The variables the operator commands read that are no setting of the broker. */
export const REMOTE_VARIABLES: readonly string[] = [URL_VARIABLE, CA_VARIABLE];

/** Where the operator commands find a running broker, unless told. */
export interface RemoteDefaults {
  readonly url: string;
  readonly token: string | undefined;
  /** A PEM file of the CAs that signed the broker's certificate, for an https:// URL. */
  readonly ca: string | undefined;
}

/** The broker's HTTP address with every setting at its default. */
export const DEFAULT_URL = `http://${SETTINGS.host.default}:${SETTINGS.httpPort.default}`;

/** `EVENTBUS_URL` (else the broker's default HTTP address), `EVENTBUS_TOKEN` and `EVENTBUS_CA`; an empty one counts as unset. */
export function remoteDefaults(env: Readonly<Record<string, string | undefined>>): RemoteDefaults {
  const given = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  return { url: given(URL_VARIABLE) ?? DEFAULT_URL, token: given(SETTINGS.token.env), ca: given(CA_VARIABLE) };
}
