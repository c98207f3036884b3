// The built broker (dist/) that the tests' child processes run: `node dist/main.js` starts in a fraction of
// the time `node --import tsx src/main.ts` takes, which compiles every module first. `npm test` builds before
// vitest; a run of its own (one file, say) builds here when dist/ is missing or older than src/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The bin as the package ships it: run it with `process.execPath`. */
export const BIN = join(ROOT, 'dist', 'main.js');

/** What each output of `npm run build` is built from, and the file that is written last when it is. */
const OUTPUTS = [
  // tsc -b writes its build info after every build (or touches it when nothing needed emitting).
  { built: join(ROOT, 'dist', '.tsbuildinfo'), from: [join(ROOT, 'src'), join(ROOT, 'tsconfig.json'), join(ROOT, 'tsconfig.build.json')], skip: join(ROOT, 'src', 'ui') },
  { built: join(ROOT, 'dist', 'ui', 'index.html'), from: [join(ROOT, 'src', 'ui'), join(ROOT, 'scripts', 'build-ui.mjs')], skip: undefined },
];

function newestMtimeMs(path: string, skip: string | undefined): number {
  if (path === skip) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtimeMs(join(path, name), skip)));
}

/** Why dist/ must be built again (missing, or older than a source), or undefined when it is fresh. */
export function staleDist(): string | undefined {
  for (const { built, from, skip } of OUTPUTS) {
    if (!existsSync(built)) return `${relative(ROOT, built)} is missing`;
    const builtAt = statSync(built).mtimeMs;
    for (const input of from) if (newestMtimeMs(input, skip) > builtAt) return `${relative(ROOT, input)} changed after ${relative(ROOT, built)} was built`;
  }
  return undefined;
}

/** Runs `npm run build` when dist/ is stale; throws, saying why, when the build fails. */
export function ensureBuilt(): void {
  const stale = staleDist();
  if (stale === undefined) return;
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const out = `${(e as { stdout?: Buffer }).stdout?.toString() ?? ''}${(e as { stderr?: Buffer }).stderr?.toString() ?? ''}`.trim();
    throw new Error(`the tests run the built broker (dist/main.js), and ${stale}: npm run build failed:\n${out || (e as Error).message}`, { cause: e });
  }
  const still = staleDist();
  if (still !== undefined) throw new Error(`npm run build left dist/ stale: ${still}`);
}
