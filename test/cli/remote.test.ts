// What every operator command will share, run through the program as a command of the bin would be: --url,
// --token and --json with their defaults from EVENTBUS_URL / EVENTBUS_TOKEN, one call of the HTTP API against
// a real server on port 0, and its refusals, an unreachable broker or a bad --url as `error: <CODE> ...` lines
// with exit 1 (2 for the usage error).
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { act, type CliContext, type CommandModule } from '../../src/cli/command.js';
import { runCli } from '../../src/cli/program.js';
import { callApi, printResult, remoteCommand, remoteOf } from '../../src/cli/remote.js';
import { closeServer, portOf, trackSockets } from '../helpers/http-server.js';
import { makeCert, type TestCert } from '../helpers/tls.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: string;
}

/** `probe <id>`: reads a consumer the way `eventbus consumers` will, and prints it. */
const addProbe: CommandModule = (program, ctx: CliContext) =>
  remoteCommand(program, ctx, 'probe', 'reads one consumer')
    .argument('<id>')
    .action(
      act(ctx, (id: string, _options: unknown, command: import('commander').Command) =>
        remoteOf(command, ctx)
          .asyncAndThen((remote) => callApi(remote, 'GET', `/api/consumers/${encodeURIComponent(id)}`).map((answer) => ({ remote, answer })))
          .map(({ remote, answer }) => {
            printResult(ctx, remote, answer as { id: string; lag: number }, (c) => [`${c.id} lag=${c.lag}`]);
            return 0;
          }),
      ),
    );

let server: http.Server;
let sockets: ReturnType<typeof trackSockets>;
const seen: Seen[] = [];
/** What the server answers next: status and body text. */
let answer: { status: number; body: string };

beforeEach(async () => {
  seen.length = 0;
  answer = { status: 200, body: '{"id":"billing","lag":3}' };
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  sockets = trackSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterEach(() => closeServer(server, sockets));

async function probe(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { env, stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
  const code = await runCli(['probe', ...args], io, [addProbe]);
  return { code, stdout, stderr };
}

const url = (): string => `http://127.0.0.1:${portOf(server)}`;

describe('the options that name a broker', () => {
  test('--url and --token: the request goes there with the token as a bearer; lines for people, exit 0', async () => {
    expect(await probe(['billing', '--url', url(), '--token', 's3cret'])).toEqual({ code: 0, stdout: 'billing lag=3\n', stderr: '' });
    expect(seen).toEqual([{ method: 'GET', url: '/api/consumers/billing', authorization: 'Bearer s3cret', body: '' }]);
  });

  test('EVENTBUS_URL and EVENTBUS_TOKEN are their defaults; the flags win over them', async () => {
    expect((await probe(['billing'], { EVENTBUS_URL: url(), EVENTBUS_TOKEN: 'from-env' })).code).toBe(0);
    // EVENTBUS_URL names a port nobody listens on: the request arrives only if --url wins.
    const flags = ['billing', '--url', url(), '--token', 'from-flag'];
    expect((await probe(flags, { EVENTBUS_URL: 'http://127.0.0.1:1', EVENTBUS_TOKEN: 'from-env' })).code).toBe(0);
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer from-env', 'Bearer from-flag']);
  });

  test('no token anywhere: no authorization header', async () => {
    await probe(['billing', '--url', url()]);
    expect(seen[0]?.authorization).toBeUndefined();
  });

  test('--json prints the answer as one JSON document', async () => {
    const run = await probe(['billing', '--url', url(), '--json']);
    expect(run).toEqual({ code: 0, stdout: '{"id":"billing","lag":3}\n', stderr: '' });
  });

  test('the help shows the three options with their variables, never a token\'s value', async () => {
    const run = await probe(['--help'], { EVENTBUS_TOKEN: 'do-not-print-me' });
    const text = run.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('--url <url> EVENTBUS_URL, default: http://127.0.0.1:3000');
    expect(text).toContain('--token <token> EVENTBUS_TOKEN, default: unset');
    expect(text).toContain('--ca <file> EVENTBUS_CA, default: unset');
    expect(text).toContain('--json print JSON');
    expect(run.stdout).not.toContain('do-not-print-me');
  });
});

describe('failures', () => {
  test.each([
    [404, '{"code":"UNKNOWN_CONSUMER","message":"no consumer \\"billing\\""}', 'error: UNKNOWN_CONSUMER no consumer "billing"\n'],
    [401, '{"code":"UNAUTHORIZED","message":"a token is needed: send Authorization: Bearer <token> or ?token="}', 'error: UNAUTHORIZED the broker wants a token: give --token <token> or set EVENTBUS_TOKEN\n'],
    [503, '{"code":"UNAVAILABLE","message":"shutting down"}', 'error: UNAVAILABLE shutting down\n'],
    [500, '{"oops":true}', 'error: UNAVAILABLE GET /api/consumers/billing answered 500\n'],
    [200, '<html>a web server</html>', 'error: UNAVAILABLE GET /api/consumers/billing answered 200 without JSON: is this an eventbus broker?\n'],
  ])('an answer %i %s is `%s`, exit 1', async (status, body, line) => {
    answer = { status, body };
    expect(await probe(['billing', '--url', url()])).toEqual({ code: 1, stdout: '', stderr: line });
  });

  test('a refused --token is told in the command line\'s terms, not the HTTP header the command sent', async () => {
    answer = { status: 401, body: '{"code":"UNAUTHORIZED","message":"not a valid token: send Authorization: Bearer <token> or ?token="}' };
    const line = "error: UNAUTHORIZED the broker refused the token given by --token (or EVENTBUS_TOKEN): it is neither the broker's EVENTBUS_TOKEN nor a credential's token\n";
    expect(await probe(['billing', '--url', url(), '--token', 'wrong'])).toEqual({ code: 1, stdout: '', stderr: line });
    expect(await probe(['billing', '--url', url()], { EVENTBUS_TOKEN: 'wrong' })).toEqual({ code: 1, stdout: '', stderr: line });
  });

  test('a broker out of reach is UNAVAILABLE with the reason, exit 1', async () => {
    const port = portOf(server);
    await closeServer(server, sockets);
    server = http.createServer();
    expect(await probe(['billing', '--url', `http://127.0.0.1:${port}`])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: UNAVAILABLE cannot reach the broker at http://127.0.0.1:${port}: ECONNREFUSED\n`,
    });
  });

  test.each([['not a url'], ['ftp://127.0.0.1:21']])('--url %j is a usage error, exit 2, and nothing is sent', async (bad) => {
    expect(await probe(['billing', '--url', bad])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: BAD_ARGS --url (or EVENTBUS_URL): expected http://host:port or https://host:port, got ${JSON.stringify(bad)}\n`,
    });
    expect(seen).toEqual([]);
  });

  test('a missing argument or an unknown option of the command is a usage error, exit 2', async () => {
    expect(await probe(['--url', url()])).toEqual({ code: 2, stdout: '', stderr: "error: BAD_ARGS missing required argument 'id'\n" });
    expect(await probe(['billing', '--ulr', url()])).toEqual({ code: 2, stdout: '', stderr: "error: BAD_ARGS unknown option '--ulr' (Did you mean --url?)\n" });
  });
});

describe('over https', () => {
  let cert: TestCert;
  let secureUrl: string;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eventbus-cert-'));
    cert = makeCert(dir);
    const secure = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"billing","lag":3}');
    });
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    secureUrl = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
    return async () => {
      secure.closeAllConnections();
      await new Promise((resolve) => secure.close(resolve));
      await rm(dir, { recursive: true, force: true });
    };
  });

  test('--ca names the CA of the broker\'s certificate; EVENTBUS_CA is its default', async () => {
    expect(await probe(['billing', '--url', secureUrl, '--ca', cert.certFile])).toEqual({ code: 0, stdout: 'billing lag=3\n', stderr: '' });
    expect(await probe(['billing'], { EVENTBUS_URL: secureUrl, EVENTBUS_CA: cert.certFile })).toEqual({ code: 0, stdout: 'billing lag=3\n', stderr: '' });
  });

  test('without it the certificate is refused, saying what to give, exit 1', async () => {
    expect(await probe(['billing', '--url', secureUrl])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: UNAVAILABLE cannot reach the broker at ${secureUrl}: DEPTH_ZERO_SELF_SIGNED_CERT: the broker's certificate is not trusted (--ca <file> names the CA that signed it)\n`,
    });
  });

  test('a --ca file that cannot be read is a usage error, exit 2', async () => {
    expect(await probe(['billing', '--url', secureUrl, '--ca', 'no-such.pem'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: BAD_ARGS --ca (or EVENTBUS_CA): cannot read no-such.pem (ENOENT)\n',
    });
  });
});
