// What `npm install` checks of each package's `engines` (the EBADENGINE warnings), checked on the lock file:
// every package installed, development tools included, runs on the oldest Node.js our `engines` allows, and
// the client package's dependencies on the oldest its own allows.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
interface LockEntry {
  readonly version?: string;
  readonly engines?: { readonly node?: string };
  readonly dependencies?: Record<string, string>;
  readonly hasInstallScript?: boolean;
}
const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as { packages: Record<string, LockEntry> };
const oldest = (range: string | undefined): string => semver.minVersion(range ?? '*')!.version;
const refusing = (node: string, paths: readonly string[]): string[] =>
  paths.flatMap((path) => {
    const wanted = lock.packages[path]?.engines?.node;
    return wanted === undefined || semver.satisfies(node, wanted) ? [] : [`${path}@${lock.packages[path]!.version} wants node ${wanted}`];
  });

test("every package of the lock file runs on the oldest Node.js the root package's engines allow", () => {
  const node = oldest(lock.packages['']!.engines?.node);
  expect(semver.major(node)).toBe(20);
  expect(refusing(node, Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/')))).toEqual([]);
});

test("the client package's dependencies run on the oldest Node.js its engines allow", () => {
  const client = lock.packages['packages/client']!;
  const node = oldest(client.engines?.node);
  expect(refusing(node, Object.keys(client.dependencies ?? {}).map((name) => `node_modules/${name}`))).toEqual([]);
});

test('every package with install scripts is reviewed in allowScripts, and the native ones (better-sqlite3, esbuild) allowed', () => {
  const { allowScripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { allowScripts: Record<string, boolean> };
  const withScripts = Object.entries(lock.packages).flatMap(([path, entry]) => (entry.hasInstallScript === true ? [path.slice(path.lastIndexOf('node_modules/') + 13)] : []));
  expect([...new Set(withScripts)].filter((name) => !(name in allowScripts))).toEqual([]);
  expect(allowScripts).toMatchObject({ 'better-sqlite3': true, esbuild: true });
});
