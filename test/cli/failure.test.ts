// The failure contract of the bin (PROTOCOL.md §9), in the one place that implements it: `error: <CODE>
// <message>` on one line, exit 1 for a failure and 2 for a usage error, commander's own errors included.
import { CommanderError } from 'commander';
import { describe, expect, test } from 'vitest';
import { commanderOutcome, failure, failureOf, formatFailure, reportFailure, usageError } from '../../src/cli/failure.js';
import { brokerError } from '../../src/errors.js';

describe('failures', () => {
  test('a failure is one line with its code, and exits 1; a usage error exits 2', () => {
    expect(failure('UNKNOWN_CONSUMER', 'no consumer "billing"')).toEqual({ code: 'UNKNOWN_CONSUMER', message: 'no consumer "billing"', exitCode: 1 });
    expect(usageError('--from-seq: expected a number')).toEqual({ code: 'BAD_ARGS', message: '--from-seq: expected a number', exitCode: 2 });
    expect(usageError("unknown command 'x'", 'UNKNOWN_COMMAND').code).toBe('UNKNOWN_COMMAND');
    expect(formatFailure(failure('UNAVAILABLE', 'the broker said:\n  disk full\r\n'))).toBe('error: UNAVAILABLE the broker said: disk full');
  });

  test('an error of the broker\'s own code (a setting, start-up) is a failure with its code: exit 1, one line', () => {
    const cause = new Error('listen EADDRINUSE');
    const f = failureOf(brokerError('UNAVAILABLE', 'EVENTBUS_HTTP_PORT: cannot listen on 127.0.0.1:3000:\n  in use', cause));
    expect(f).toEqual({ code: 'UNAVAILABLE', message: 'EVENTBUS_HTTP_PORT: cannot listen on 127.0.0.1:3000: in use', cause, exitCode: 1 });
    expect(formatFailure(f)).toBe('error: UNAVAILABLE EVENTBUS_HTTP_PORT: cannot listen on 127.0.0.1:3000: in use');
  });

  test('reportFailure writes the line on the stream it is given and answers the exit code', () => {
    const written: string[] = [];
    const stderr = { write: (text: string) => written.push(text) };
    expect(reportFailure(stderr, failure('UNAUTHORIZED', 'wrong token'))).toBe(1);
    expect(reportFailure(stderr, usageError('missing <topic>'))).toBe(2);
    expect(written).toEqual(['error: UNAUTHORIZED wrong token\n', 'error: BAD_ARGS missing <topic>\n']);
  });

  test.each([
    [new CommanderError(1, 'commander.unknownOption', "error: unknown option '--fom-seq'\n(Did you mean --from-seq?)"), 'error: BAD_ARGS unknown option \'--fom-seq\' (Did you mean --from-seq?)'],
    [new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'topic'"), "error: BAD_ARGS missing required argument 'topic'"],
    [new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'"), "error: UNKNOWN_COMMAND unknown command 'x'"],
    [new CommanderError(1, 'commander.help', '(outputHelp)'), 'error: BAD_ARGS a command is needed here (its list is above)'],
  ])('commander\'s %s is a usage error: exit 2', (e, line) => {
    const outcome = commanderOutcome(e);
    expect(outcome?.exitCode).toBe(2);
    expect(formatFailure(outcome!)).toBe(line);
  });

  test.each([
    new CommanderError(0, 'commander.version', '0.1.0'),
    new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'),
  ])('help and version printed ($code) are no failure', (e) => {
    expect(commanderOutcome(e)).toBeUndefined();
  });
});
