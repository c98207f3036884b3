// The `eventbus` program run in the test's own process (runCli, as the bin runs it), with its stdin, stdout
// and stderr its own, against the broker at a URL (EVENTBUS_URL): for the tests of the operator commands.
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/program.js';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `eventbus <args>` through the program, against the broker at `base`, with `stdin` piped in. */
export async function runAgainst(base: string, args: readonly string[], stdin?: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io = {
    env: { EVENTBUS_URL: base },
    stdin: Readable.from(stdin === undefined ? [] : [stdin]),
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
