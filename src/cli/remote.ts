// What the operator commands (PROTOCOL.md §9) share: the options that name a running broker and the output
// format (--url, --token, --ca, --json), one call of the HTTP API of §8 with its errors turned into the
// failures of failure.ts, and printing a result for people or as JSON.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Agent } from 'undici';
import { err, ok, ResultAsync, type Result } from 'neverthrow';
import { DEFAULT_URL, remoteDefaults } from '../config/remote.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { certificateErrorCode } from '../util/certificate-error.js';
import { act, subcommand, type CliContext } from './command.js';
import { failure, usageError, type CliFailure } from './failure.js';

/** A request to the broker: a URL and what fetch takes besides (method, headers, a string body, a signal). */
export type RemoteFetch = (url: URL, init?: RequestInit) => Promise<Response>;

/** The broker a command talks to, and how it prints. */
export interface Remote {
  readonly url: URL;
  readonly token: string | undefined;
  readonly json: boolean;
  /** fetch, trusting the CAs of --ca (instead of Node's bundled ones) when it is given: every request to the broker goes through it. */
  readonly fetch: RemoteFetch;
}

/**
 * `eventbus <name>` with --url, --token and --json, described as serve's settings are; read them back with
 * remoteOf(command, ctx). Their defaults are applied there, not by commander, which would print a token in
 * the help.
 */
export function remoteCommand(parent: Command, ctx: CliContext, name: string, summary: string, options: { isDefault?: boolean } = {}): Command {
  return subcommand(parent, ctx, name, summary, options)
    .option('--url <url>', `EVENTBUS_URL, default: ${DEFAULT_URL}\nthe broker's HTTP address`)
    .option('--token <token>', "EVENTBUS_TOKEN, default: unset\nthe broker's token, when it has one")
    .option('--ca <file>', "EVENTBUS_CA, default: unset\nPEM certificate(s) of the CA that signed the broker's certificate, for https://")
    .option('--json', 'print JSON (NDJSON for a stream) instead of lines for people');
}

export function remoteOf(command: Command, ctx: CliContext): Result<Remote, CliFailure> {
  const options = command.opts<{ url?: string; token?: string; ca?: string; json?: boolean }>();
  const defaults = remoteDefaults(ctx.env);
  const url = options.url ?? defaults.url;
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    return err(usageError(`--url (or EVENTBUS_URL): expected http://host:port or https://host:port, got ${JSON.stringify(url)}`));
  }
  const token = options.token ?? defaults.token;
  const caFile = options.ca ?? defaults.ca;
  let ca: Buffer | undefined;
  try {
    ca = caFile === undefined ? undefined : readFileSync(caFile);
  } catch (e) {
    return err(usageError(`--ca (or EVENTBUS_CA): cannot read ${caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`));
  }
  return ok({ url: parsed, token: token === '' ? undefined : token, json: options.json === true, fetch: ca === undefined ? fetch : trustingFetch(ca) });
}

/**
 * fetch over undici's own Agent with `ca`: Node's fetch takes no CA of its own, and a dispatcher from another
 * copy of undici than the one inside Node is not safe to hand it. Loaded on first use, by --ca only.
 */
function trustingFetch(ca: Buffer): RemoteFetch {
  let agent: Agent | undefined;
  return async (url, init) => {
    const undici = await import('undici');
    agent ??= new undici.Agent({ connect: { ca } });
    return undici.fetch(url, { ...init, dispatcher: agent });
  };
}

/** The HTTP methods of the API's routes (PROTOCOL.md §8, §12). */
export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const isErrorCode = (code: unknown): code is ErrorCode => (ERROR_CODES as readonly unknown[]).includes(code);

/**
 * One request to the HTTP API; resolves with the answer's JSON. A refusal becomes the failure with the
 * broker's own code and message; a broker out of reach, or an answer that is not the API's, UNAVAILABLE.
 */
export function callApi(remote: Remote, method: ApiMethod, path: string, body?: unknown): ResultAsync<unknown, CliFailure> {
  const url = new URL(path, remote.url);
  const headers = headersFor(remote, 'application/json');
  if (body !== undefined) headers['content-type'] = 'application/json';
  const request = remote.fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return ResultAsync.fromPromise(request, (e) => failure('UNAVAILABLE', `cannot reach the broker at ${remote.url.origin}: ${reason(e)}`)).andThen((response) =>
    ResultAsync.fromPromise(response.text(), (e) => failure('UNAVAILABLE', `the broker's answer was cut: ${reason(e)}`)).andThen((text) =>
      answerOf(response.status, text, `${method} ${url.pathname}`, remote),
    ),
  );
}

/** The headers of a request to the broker: what it accepts, and the token when there is one. */
export function headersFor(remote: Remote, accept: string): Record<string, string> {
  const headers: Record<string, string> = { accept };
  if (remote.token !== undefined) headers['authorization'] = `Bearer ${remote.token}`;
  return headers;
}

/**
 * A refused token in the command line's terms: the broker's reason speaks of headers, which the user of this
 * command never wrote; they gave --token (or EVENTBUS_TOKEN), or nothing.
 */
function unauthorized(remote: Pick<Remote, 'token'>): string {
  return remote.token === undefined
    ? 'the broker wants a token: give --token <token> or set EVENTBUS_TOKEN'
    : 'the broker refused the token given by --token (or EVENTBUS_TOKEN): it is neither the broker\'s EVENTBUS_TOKEN nor a credential\'s token';
}

/** An answer's JSON, or the failure it says (`what` names the request in messages). */
export function answerOf(status: number, text: string, what: string, remote: Pick<Remote, 'token'>): Result<unknown, CliFailure> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return err(failure('UNAVAILABLE', `${what} answered ${status} without JSON: is this an eventbus broker?`));
  }
  if (status >= 200 && status < 300) return ok(json);
  const { code, message } = (typeof json === 'object' && json !== null ? json : {}) as { code?: unknown; message?: unknown };
  if (code === 'UNAUTHORIZED') return err(failure(code, unauthorized(remote)));
  if (isErrorCode(code)) return err(failure(code, typeof message === 'string' ? message : `${what} answered ${status}`));
  return err(failure('UNAVAILABLE', `${what} answered ${status}`));
}

/** The innermost cause's code or message: fetch's own is always "fetch failed". */
export function reason(e: unknown): string {
  let cause: unknown = e;
  while (cause instanceof Error && cause.cause !== undefined) cause = cause.cause;
  const untrusted = certificateErrorCode(cause);
  if (untrusted !== undefined) return `${untrusted}: the broker's certificate is not trusted (--ca <file> names the CA that signed it)`;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') return cause.code;
  return cause instanceof Error ? cause.message : String(cause);
}

/** A command's result: one JSON document with --json, else the lines `forPeople` makes of it. */
export function printResult<T>(ctx: CliContext, remote: Remote, value: T, forPeople: (value: T) => readonly string[]): void {
  ctx.stdout.write(remote.json ? `${JSON.stringify(value)}\n` : forPeople(value).map((line) => `${line}\n`).join(''));
}

/** One request of the HTTP API that a subcommand makes. */
export interface ApiRequest {
  readonly method: ApiMethod;
  readonly path: string;
  readonly body?: unknown;
}

/**
 * The action of a subcommand that makes one request (as `consumer pause`): `request` turns the arguments into
 * it, or into a usage error; the answer is printed as JSON, or as the lines `forPeople` makes of it.
 */
export function requestAction<A extends unknown[]>(
  ctx: CliContext,
  request: (...args: A) => ApiRequest | CliFailure | Promise<ApiRequest | CliFailure>,
  forPeople: (answer: unknown) => readonly string[],
) {
  return act(ctx, async (...args: [...A, unknown, Command]) => {
    const remote = remoteOf(args.at(-1) as Command, ctx);
    if (remote.isErr()) return err(remote.error);
    const made = await request(...(args.slice(0, -1) as unknown as A));
    if ('exitCode' in made) return err(made);
    return callApi(remote.value, made.method, made.path, made.body).map((answer) => {
      printResult(ctx, remote.value, answer, forPeople);
      return 0;
    });
  });
}
