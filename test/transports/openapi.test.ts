// The OpenAPI document at /api/openapi.json as the tools its users run read it: Redocly's recommended rules and
// Spectral's spectral:oas find no error in it, and a client made from it by openapi-typescript (with
// openapi-fetch, its fetch client) type-checks under a strict tsc in the natural code of a user, then runs
// against the broker. Each tool runs in this process, on one document.
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { Document, Spectral } from '@stoplight/spectral-core';
import { Json as JsonParser } from '@stoplight/spectral-parsers';
import { oas } from '@stoplight/spectral-rulesets';
import { transform } from 'esbuild';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { startApi, type ApiBus } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const scope = testScope();
// Spectral's DiagnosticSeverity.Error; warnings and hints are advice.
const SPECTRAL_ERROR = 0;

type Json = Record<string, unknown>;
interface Served {
  readonly bus: ApiBus;
  readonly text: string;
  readonly doc: { paths: Record<string, Record<string, Json>>; servers: Json[]; components: Json; info: Json };
}

/** A broker under a token, and its document as it serves it. */
async function served(): Promise<Served> {
  const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: 's3cret' });
  const res = await fetch(`${bus.base}/api/openapi.json`, { headers: { authorization: 'Bearer s3cret' } });
  const text = await res.text();
  return { bus, text, doc: JSON.parse(text) as Served['doc'] };
}

describe('the OpenAPI document', () => {
  test("passes Redocly's recommended rules with no error", async () => {
    const { bus, text } = await served();
    const problems = await lintFromString({ source: text, absoluteRef: `${bus.base}/api/openapi.json`, config: await createConfig({ extends: ['recommended'] }) });
    expect(problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
  });

  test("passes Spectral's spectral:oas with no error", async () => {
    const { text } = await served();
    const spectral = new Spectral();
    spectral.setRuleset({ extends: [[oas as never, 'recommended']] });
    const results = await spectral.run(new Document(text, JsonParser));
    expect(results.filter((r) => (r.severity as number) === SPECTRAL_ERROR).map((r) => `${String(r.code)}: ${r.message} at ${r.path.join('.')}`)).toEqual([]);
  });

  test('says how a client authenticates, where the broker is, and names and sums up every operation, the same way for every route', async () => {
    const { bus, text, doc } = await served();
    expect(doc.components['securitySchemes']).toMatchObject({ bearer: { type: 'http', scheme: 'bearer' }, query: { type: 'apiKey', in: 'query', name: 'token' } });
    expect(doc.servers).toEqual([expect.objectContaining({ url: bus.base })]);
    const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op: op as Json & { responses: Json } })));
    const ids = operations.map(({ op }) => op['operationId']);
    expect(ids.filter((id) => typeof id !== 'string')).toEqual([]);
    expect(operations.filter(({ op }) => typeof op['summary'] !== 'string').map(({ route }) => route)).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    const open = operations.filter(({ op }) => Array.isArray(op['security']) && (op['security'] as unknown[]).length === 0).map(({ route }) => route);
    expect(open.sort()).toEqual(['GET /livez', 'GET /readyz']);
    expect(operations.filter(({ route, op }) => !open.includes(route) && !('401' in op.responses)).map(({ route }) => route)).toEqual([]);
    expect(doc.paths['/metrics']!['get']!['responses']).toHaveProperty('403');
    expect(String(doc.info['description'])).toMatch(/405/);
    expect(text).not.toContain('PROTOCOL.md');
  });
});

describe('a client made by openapi-typescript', () => {
  test('compiles under a strict tsc with numbers for seqs and limits, and runs against the broker', async () => {
    const { bus, text } = await served();
    const dir = await mkdtemp(join(tmpdir(), 'eventbus-openapi-'));
    scope.defer(() => rm(dir, { recursive: true, force: true }));
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await writeFile(join(dir, 'api.d.ts'), astToString(await openapiTS(text)));
    const program = `import createClient from 'openapi-fetch';
import type { paths } from './api.js';

export async function main(baseUrl: string, token: string): Promise<number[]> {
  const api = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${token}\` } });
  const published = await api.POST('/api/publish', { body: { topic: 'orders.created', payload: { id: 7 } } });
  if (published.error !== undefined) throw new Error(published.error.message);
  const fromSeq: number = 'seq' in published.data && typeof published.data.seq === 'number' ? published.data.seq : 1;
  const page = await api.GET('/api/messages', { params: { query: { from_seq: fromSeq, limit: 10 } } });
  const one = await api.GET('/api/messages/{seq}', { params: { path: { seq: fromSeq } } });
  const seqs: number[] = page.data?.messages.map((m) => m.seq) ?? [];
  return [...seqs, one.data?.seq ?? -1, page.data?.next_seq ?? -1];
}
`;
    await writeFile(join(dir, 'main.ts'), program);
    const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [], noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true };
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const compiled = ts.createProgram([join(dir, 'main.ts')], options);
    const diagnostics = ts.getPreEmitDiagnostics(compiled).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    await writeFile(join(dir, 'main.mjs'), (await transform(program, { loader: 'ts', format: 'esm' })).code);
    const { main } = (await import(pathToFileURL(join(dir, 'main.mjs')).href)) as { main: (base: string, token: string) => Promise<number[]> };
    expect(await main(bus.base, 's3cret')).toEqual([1, 1, 2]);
  }, 60_000);
});
