// The dashboard's build (npm run build): src/ui bundled with uPlot by esbuild, its script and styles inlined
// into one page, dist/ui/index.html, which the broker serves at GET /. One file, so that the page's token
// (/?token=) is needed for one request only, and nothing is fetched from anywhere else.
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const uplot = JSON.parse(await readFile(`${root}node_modules/uplot/package.json`, 'utf8'));
const result = await build({
  entryPoints: [`${root}src/ui/dashboard.ts`],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  write: false,
  outdir: `${root}dist/ui`,
  banner: { js: `/*! uPlot ${uplot.version} (https://github.com/leeoniya/uPlot), MIT License, Copyright (c) 2025 Leon Sorokin */` },
  logLevel: 'warning',
});
const output = (ext) => result.outputFiles.find((f) => f.path.endsWith(ext)).text;
const script = output('.js');
const styles = output('.css');
// Inlined text must not end its own element early.
if (/<\/script/i.test(script) || /<\/style/i.test(styles)) throw new Error('the dashboard bundle holds a closing tag; it cannot be inlined');
const page = (await readFile(`${root}src/ui/index.html`, 'utf8'))
  .replace('/*STYLES*/', () => styles)
  .replace('/*SCRIPT*/', () => script);
await mkdir(`${root}dist/ui`, { recursive: true });
await writeFile(`${root}dist/ui/index.html`, page);
