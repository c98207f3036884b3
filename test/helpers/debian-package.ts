// The Debian packages some tests drive from outside, as their users' tools would (chromium, prometheus's
// promtool): test/global-setup.ts and .ci/run install them when missing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Installs a Debian package with apt-get (as root, else through `sudo -n`) when `binary` is missing; returns why
 * it could not, or undefined when it is there. `usedBy`: which tests need it, for the message.
 */
export function ensureDebianPackage(name: string, binary: string, usedBy: string): string | undefined {
  if (existsSync(binary)) return undefined;
  const asRoot = process.getuid?.() === 0;
  const apt = (...args: string[]): void => {
    const [cmd, argv] = asRoot ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
    execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  const install = (): void => apt('-o', 'DPkg::Lock::Timeout=120', 'install', '-y', name);
  try {
    try {
      install();
    } catch {
      apt('update'); // a machine whose package lists were never fetched
      install();
    }
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop() ?? (e as Error).message;
    return `${usedBy} need ${binary}, and installing it failed (apt-get install -y ${name}, as root): ${stderr}`;
  }
  return existsSync(binary) ? undefined : `apt-get installed ${name}, but not ${binary}`;
}
