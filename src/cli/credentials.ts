// `eventbus credentials [list]`: the stored credentials (GET /api/credentials) as a table or JSON, never a token;
// `eventbus credentials add|change|rotate|rm <name>`: one credential made (POST), changed (PATCH), given a new
// token (POST .../rotate) or removed (DELETE) (PROTOCOL.md §12). Each prints the credential as it is afterwards
// (`rm`: its name); `add` and `rotate` print its token after it, on the last line, as the broker shows it once.
import type { Command } from 'commander';
import { err } from 'neverthrow';
import type { z } from 'zod';
import type { Credential, CredentialChange, IssuedCredential } from '../protocol/credential-bodies.js';
import { countArg } from './args.js';
import { act, subcommand, unknownCommand, type CliContext } from './command.js';
import { usageError, type CliFailure } from './failure.js';
import { table, timeCell } from './output.js';
import { callApi, printResult, remoteCommand, remoteOf, requestAction, type ApiRequest } from './remote.js';

type WireCredential = z.infer<typeof Credential>;

const path = (name: string, action = ''): string => `/api/credentials/${encodeURIComponent(name)}${action}`;

const TOKEN_NOTE = 'token (shown only this once: the broker keeps only its hash):';

const listCell = (items: readonly string[]): string => (items.length === 0 ? '-' : items.join(','));

export function credentialRows(credentials: readonly WireCredential[]): string[] {
  return table(
    ['name', 'publish', 'subscribe', 'consumers', 'monitor', 'admin', 'publish rate', 'created', 'last used'],
    credentials.map((c) => [
      c.name,
      listCell(c.publish),
      listCell(c.subscribe),
      listCell(c.consumers),
      c.monitor ? 'yes' : 'no',
      c.admin ? 'yes' : 'no',
      c.publish_rate === null ? '-' : `${c.publish_rate}/s`,
      timeCell(c.created_at),
      timeCell(c.last_used_at),
    ]),
  );
}

/** The permission options as commander gives them: `false` from a `--no-` form (`change` only). */
interface PermissionOptions {
  publish?: string[] | false;
  subscribe?: string[] | false;
  consumers?: string[] | false;
  monitor?: boolean;
  admin?: boolean;
  publishRate?: number | false;
}

/** A repeatable option's values; a `--no-` form given before it (false) is overridden, as the last word wins. */
const addTo = (text: string, previous: string[] | false | undefined): string[] => [...(previous === false ? [] : (previous ?? [])), text];

/** The options of the permissions, shared by `add` and `change`; `change` also takes their `--no-` forms. */
function permissionOptions(command: Command, change: boolean): Command {
  command
    .option('--publish <pattern>', 'may publish to the topics this pattern matches (repeatable)', addTo)
    .option('--subscribe <pattern>', 'may read the topics this pattern matches: subscribe, SSE, tail, export (repeatable)', addTo)
    .option('--consumers <glob>', 'may use the durable consumers whose id matches ("*": any characters) (repeatable)', addTo)
    .option('--monitor', 'may read the operator views: stats, topics, consumers, dead letters, schedules, /metrics, the dashboard')
    .option('--admin', 'may do everything, including changing consumers, schedules and credentials')
    .option('--publish-rate <n>', 'at most this many publishes a second, per broker (beyond it: RATE_LIMITED)', countArg);
  if (!change) return command;
  return command
    .option('--no-publish', 'may publish to no topic')
    .option('--no-subscribe', 'may read no topic')
    .option('--no-consumers', 'may use no durable consumer')
    .option('--no-monitor', 'may not read the operator views')
    .option('--no-admin', 'is not an administrator')
    .option('--no-publish-rate', 'no publish rate limit');
}

/** The body of POST or PATCH: what is not given stays absent (PATCH keeps it as it is). */
function permissionsBody(o: PermissionOptions) {
  const list = (v: string[] | false | undefined): string[] | undefined => (v === false ? [] : v);
  return {
    publish: list(o.publish),
    subscribe: list(o.subscribe),
    consumers: list(o.consumers),
    monitor: o.monitor,
    admin: o.admin,
    publish_rate: o.publishRate === false ? null : o.publishRate,
  } satisfies z.infer<typeof CredentialChange>;
}

/** A credential's subcommand: its request, then the credential (with its token, if new) or its name printed. */
function credentialAction<A extends unknown[]>(ctx: CliContext, request: (...args: A) => ApiRequest | CliFailure) {
  return requestAction(ctx, request, (answer) => {
    const a = answer as WireCredential | z.infer<typeof IssuedCredential> | { name: string };
    if (!('publish' in a)) return [`removed ${a.name}`];
    return 'token' in a ? [...credentialRows([a]), TOKEN_NOTE, a.token] : credentialRows([a]);
  });
}

const TOKEN_HELP = '\nThe token is the last line of the output, so that a script can keep it:';

export function addCredentials(program: Command, ctx: CliContext): Command {
  const credentials = subcommand(program, ctx, 'credentials', 'list, make, change, rotate or remove the credentials tokens belong to (admin only)').addHelpText(
    'after',
    "\nWith no subcommand, list. Each token belongs to a credential: a name and what it may do. The broker shows\na token once, when made or rotated, and keeps only its hash.\n\nExamples:\n  eventbus credentials\n  eventbus credentials add shop --publish 'orders.#' --subscribe 'orders.#' --consumers 'billing-*'\n  eventbus credentials change shop --publish 'orders.#' --publish 'refunds.#' --no-publish-rate\n  eventbus credentials rotate shop\n  eventbus credentials rm shop",
  );

  remoteCommand(credentials, ctx, 'list', 'every credential, with its permissions and when it was last used; never a token', { isDefault: true })
    .allowExcessArguments()
    .addHelpText('after', '\nExamples:\n  eventbus credentials\n  eventbus credentials list --json')
    .action(
      act(ctx, (_options: unknown, command: Command) => {
        // A misspelt subcommand lands here, as `credentials` alone runs `list`.
        const [stray] = command.args;
        if (stray !== undefined) return err(unknownCommand(credentials, stray));
        return remoteOf(command, ctx).asyncAndThen((remote) =>
          callApi(remote, 'GET', '/api/credentials').map((answer) => {
            printResult(ctx, remote, answer as WireCredential[], credentialRows);
            return 0;
          }),
        );
      }),
    );

  permissionOptions(remoteCommand(credentials, ctx, 'add', 'make a credential, and print its token (the only time it is shown)'), false)
    .argument('<name>', 'the credential: 1 to 64 letters, digits and "._:@-", starting with a letter or digit')
    .addHelpText('after', `${TOKEN_HELP}\n  TOKEN=$(eventbus credentials add shop --publish 'orders.#' | tail -1)\n  eventbus credentials add shop --publish 'orders.#' --json   # {...,"token"}\n\nExamples:\n  eventbus credentials add shop --publish 'orders.#' --subscribe 'orders.#' --consumers 'billing-*'\n  eventbus credentials add grafana --monitor\n  eventbus credentials add ingest --publish 'sensors.#' --publish-rate 500`)
    .action(credentialAction(ctx, (name: string, options: PermissionOptions): ApiRequest => ({ method: 'POST', path: '/api/credentials', body: { name, ...permissionsBody(options) } })));

  permissionOptions(remoteCommand(credentials, ctx, 'change', "change a credential's permissions: each one given replaces its own, the others stay"), true)
    .argument('<name>', 'the credential')
    .addHelpText('after', "\n--no-publish, --no-subscribe and --no-consumers leave it none of those; --no-publish-rate lifts its rate limit.\nIts token stays the same.\n\nExamples:\n  eventbus credentials change shop --publish 'orders.#' --publish 'refunds.#'\n  eventbus credentials change shop --no-subscribe --monitor\n  eventbus credentials change ingest --no-publish-rate")
    .action(
      credentialAction(ctx, (name: string, options: PermissionOptions) => {
        const body = permissionsBody(options);
        if (Object.values(body).every((v) => v === undefined)) return usageError('give at least one permission to change (eventbus credentials change --help)');
        return { method: 'PATCH', path: path(name), body };
      }),
    );

  remoteCommand(credentials, ctx, 'rotate', 'give a credential a new token and print it; the old one stops working, its connections are closed')
    .argument('<name>', 'the credential')
    .addHelpText('after', `${TOKEN_HELP}\n  TOKEN=$(eventbus credentials rotate shop | tail -1)\n\nExample:\n  eventbus credentials rotate shop`)
    .action(credentialAction(ctx, (name: string): ApiRequest => ({ method: 'POST', path: path(name, '/rotate') })));

  remoteCommand(credentials, ctx, 'rm', 'remove a credential; its token stops working, its connections are closed')
    .argument('<name>', 'the credential')
    .addHelpText('after', '\nExample:\n  eventbus credentials rm shop')
    .action(credentialAction(ctx, (name: string): ApiRequest => ({ method: 'DELETE', path: path(name) })));

  return credentials;
}
