// The dependency rules of STYLE.md §2.1, checked on the source text: the core and the protocol parsers never
// touch the network or the adapters, the CLI and the settings take nothing from the core, only the config reads
// process.env, and src/ never imports test code.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** Every module specifier a file imports or re-exports: static, side-effect, dynamic and require(). */
function importsOf(source: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
  ];
  return patterns.flatMap((re) => [...source.matchAll(re)].map((m) => m[1]!));
}

/** The imports that load code: every import but `import type` (and `export type`). */
function runtimeImportsOf(source: string): string[] {
  return importsOf(source.replace(/^\s*(?:import|export)\s+type\b[^;]*;/gm, ''));
}

/**
 * The values (not types) a file's static imports and re-exports take from the modules `from` matches: each
 * name, `* as x`, or a default import's name.
 */
function valuesImported(source: string, from: RegExp): string[] {
  const values: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\s+(?!type\b)([^;]*?)\s*\bfrom\s*['"]([^'"]+)['"]/gm)) {
    if (!from.test(m[2]!)) continue;
    const clause = m[1]!;
    const named = /\{([^}]*)\}/.exec(clause)?.[1] ?? '';
    const rest = clause.replace(/\{[^}]*\}/, '');
    for (const name of [...rest.split(','), ...named.split(',')].map((n) => n.trim())) if (name !== '' && !name.startsWith('type ')) values.push(name);
  }
  return values;
}

const NETWORK = /^(?:node:)?(?:net|dgram|http|https|http2|tls)$|^ws$/;
const ADAPTERS = /(?:^|\/)(?:transports|delivery)(?:\/|$)/;
const STORE = /(?:^|\/)store(?:\/|$)/;
const CORE = /(?:^|\/)core\//;
const rel = (file: string): string => relative(ROOT, file);

describe('dependency rules', () => {
  test('the import scanner sees every form of import', () => {
    const sample = `import { a } from 'node:net';\nimport type {\n  B,\n} from "../transports/x.js";\nimport 'ws';\nexport * from '../delivery/y.js';\nconst h = await import('node:http');\n// import { z } from 'not-this';`;
    expect(importsOf(sample)).toEqual(['node:net', '../transports/x.js', '../delivery/y.js', 'ws', 'node:http']);
    expect(runtimeImportsOf(sample)).toEqual(['node:net', '../delivery/y.js', 'ws', 'node:http']);
    const port = `import { A, type B,\n  C } from '../core/store-port.js';\nimport type { D } from '../core/store-port.js';\nimport * as e from '../core/store-port.js';\nimport F, { type G } from '../core/store-port.js';\nexport { H } from '../core/store-port.js';\nimport { I } from './other.js';`;
    expect(valuesImported(port, /store-port/)).toEqual(['A', 'C', '* as e', 'F', 'H']);
  });

  test('src/core and src/protocol import no network module, transports/ or delivery/; protocol no store/', () => {
    const bad: string[] = [];
    for (const layer of ['core', 'protocol']) {
      for (const file of tsFiles(join(SRC, layer))) {
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          if (NETWORK.test(spec) || ADAPTERS.test(spec) || (layer === 'protocol' && STORE.test(spec))) bad.push(`${rel(file)} imports ${spec}`);
        }
      }
    }
    expect(tsFiles(join(SRC, 'core')).length).toBeGreaterThan(0);
    expect(bad).toEqual([]);
  });

  // LogMessage is the one value: the class the committer and both stores build every message as, so that all
  // of them have one shape (store-port.ts says why a class).
  test('the store is a port the core owns: core/ imports nothing from store/; store/ takes from core/ only the port, its types and LogMessage', () => {
    const bad: string[] = [];
    for (const file of tsFiles(join(SRC, 'core'))) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) if (STORE.test(spec)) bad.push(`${rel(file)} imports ${spec}`);
    }
    for (const file of tsFiles(join(SRC, 'store'))) {
      const source = readFileSync(file, 'utf8');
      for (const spec of importsOf(source)) if (CORE.test(spec) && !spec.endsWith('/core/store-port.js')) bad.push(`${rel(file)} imports ${spec}`);
      for (const name of valuesImported(source, CORE)) if (name !== 'LogMessage') bad.push(`${rel(file)} imports ${name} from core/ at run time`);
    }
    expect(tsFiles(join(SRC, 'store')).length).toBeGreaterThan(0);
    expect(bad).toEqual([]);
  });

  test('protocol/ takes only types from core/', () => {
    const bad: string[] = [];
    for (const file of tsFiles(join(SRC, 'protocol'))) {
      for (const spec of runtimeImportsOf(readFileSync(file, 'utf8'))) if (/(?:^|\/)core\//.test(spec)) bad.push(`${rel(file)} imports ${spec} at run time`);
    }
    expect(bad).toEqual([]);
  });

  // The CLI and the settings sit above the broker (STYLE.md §2.1): what they share with it, the topic and
  // filter grammars, lives in protocol/. Types count too, so the CLI never grows a dependency on the broker's insides.
  test('src/cli/ and the settings (config.ts, config/) import nothing from core/, not even types', () => {
    const files = [...tsFiles(join(SRC, 'cli')), ...tsFiles(join(SRC, 'config')), join(SRC, 'config.ts')].filter((f) => existsSync(f));
    const bad: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) if (/(?:^|\/)core\//.test(spec)) bad.push(`${rel(file)} imports ${spec}`);
    }
    expect(files.length).toBeGreaterThan(3);
    expect(bad).toEqual([]);
  });

  test('the client package (src/client, with the EventClient interface and its WebSocket backend) reaches no core/, store/ or server code', () => {
    const files = tsFiles(join(SRC, 'client'));
    const bad: string[] = [];
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      for (const spec of importsOf(source)) {
        if (/(?:^|\/)(?:core|store|transports|delivery|config)\//.test(spec) || /(?:^|\/)(?:app|embed|config)\.js$/.test(spec)) bad.push(`${rel(file)} imports ${spec}`);
      }
      // Types from protocol/ are fine, and its client-frames module; the rest of its runtime (neverthrow Results,
      // the server's parser) stays server-side.
      for (const spec of runtimeImportsOf(source)) {
        if (/(?:^|\/)protocol\//.test(spec) && !spec.endsWith('/protocol/client-frames.js')) bad.push(`${rel(file)} imports ${spec} at run time`);
      }
    }
    // The one protocol module the client loads stays free of dependencies.
    expect(importsOf(readFileSync(join(SRC, 'protocol', 'client-frames.ts'), 'utf8'))).toEqual([]);
    expect(files.length).toBeGreaterThan(3);
    expect(bad).toEqual([]);
  });

  test('only src/config.ts and src/config/ read process.env (main.ts may hand it whole to the command line; src/cli/ is exempt)', () => {
    const reads: string[] = [];
    for (const file of tsFiles(SRC)) {
      const path = rel(file);
      if (path === join('src', 'config.ts') || path.startsWith(join('src', 'config') + '/') || path.startsWith(join('src', 'cli') + '/')) continue;
      let text = readFileSync(file, 'utf8');
      if (path === join('src', 'main.ts')) text = text.replace(/(\brunCli\([^;]*?\benv:\s*)process\.env\b/g, '$1ENV');
      if (/\bprocess\s*(?:\?\.|\.)\s*env\b|\bprocess\s*\[\s*['"`]env|\{[^}]*\benv\b[^}]*\}\s*(?:=\s*process\b|from\s*['"](?:node:)?process['"])/.test(text)) reads.push(path);
    }
    expect(reads).toEqual([]);
  });

  test('nothing in src/ imports from test/', () => {
    const bad: string[] = [];
    for (const file of tsFiles(SRC)) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = spec.startsWith('.') ? resolve(dirname(file), spec) : spec;
        if (target.startsWith(join(ROOT, 'test') + '/') || /^test\//.test(spec)) bad.push(`${rel(file)} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
