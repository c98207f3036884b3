// Headless Chromium for the dashboard's end-to-end tests: Debian's `chromium` package, driven by playwright-core
// (which downloads no browser of its own). test/global-setup.ts and .ci/run install the package when it is
// missing; ensureChromium() is what they call.
import { chromium, type Browser } from 'playwright-core';
import { ensureDebianPackage } from './debian-package.js';

export const CHROMIUM = '/usr/bin/chromium';

// Off: what a test browser has no use for and would only reach for the network with.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Installs Debian's chromium when it is missing; returns why it could not, or undefined when it is there. */
export function ensureChromium(): string | undefined {
  return ensureDebianPackage('chromium', CHROMIUM, 'the dashboard tests');
}

export async function launchChromium(): Promise<Browser> {
  const missing = ensureChromium();
  if (missing !== undefined) throw new Error(missing);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
