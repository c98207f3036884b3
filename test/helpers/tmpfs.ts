// A small tmpfs of its own for the tests of a full disk, mounted in a temp dir. Mounting needs
// root: `available` says whether this machine lets the test do it (CI runs as root).
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const tmpfsAvailable = process.getuid?.() === 0;

export interface Tmpfs {
  readonly dir: string;
  /** Writes a file until the disk is full. */
  fill(): Promise<void>;
  /** Removes what fill() wrote. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeBytes: number): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), 'eventbus-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  const filler = join(dir, 'filler');
  return {
    dir,
    fill: async () => {
      const file = await open(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) await file.write(chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        // The last few bytes: a 64 KiB write that did not fit may leave room for smaller ones.
        try {
          for (;;) await file.write(chunk.subarray(0, 512));
        } catch {
          // full
        }
      } finally {
        await file.close();
      }
    },
    free: () => unlink(filler),
    unmount: async () => {
      execFileSync('umount', ['-l', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
