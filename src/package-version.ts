// The package's version, from its package.json: one level up from src/ and from dist/ alike.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const json = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(json.version);
}
