#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=4
// Process entry: the command line (src/cli/), and the exit code it ends with. Nothing else lives here.
import { runCli } from './cli/program.js';

process.exit(await runCli(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }));
