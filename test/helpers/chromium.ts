// Headless Chromium for the dashboard's end-to-end tests: Debian's `chromium` package, driven by playwright-core
// (which downloads no browser of its own). test/global-setup.ts and .ci/run install the package when it is
// missing; ensureChromium() is what they call.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

// Off: what a test browser has no use for and would only reach for the network with.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Installs Debian's chromium with apt-get (as root, else through `sudo -n`) when it is missing; returns why it
 * could not, or undefined when it is there.
 */
export function ensureChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const asRoot = process.getuid?.() === 0;
  const apt = (...args: string[]): void => {
    const [cmd, argv] = asRoot ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
    execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  const install = (): void => apt('-o', 'DPkg::Lock::Timeout=120', 'install', '-y', 'chromium');
  try {
    try {
      install();
    } catch {
      apt('update'); // a machine whose package lists were never fetched
      install();
    }
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop() ?? (e as Error).message;
    return `the dashboard tests need Chromium at ${CHROMIUM}, and installing it failed (apt-get install -y chromium, as root): ${stderr}`;
  }
  return existsSync(CHROMIUM) ? undefined : `apt-get installed chromium, but not at ${CHROMIUM}`;
}

export async function launchChromium(): Promise<Browser> {
  const missing = ensureChromium();
  if (missing !== undefined) throw new Error(missing);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
