// NDJSON input for `publish --ndjson` and `import`: one JSON object per line, each numbered, so that a bad
// line is reported by its number. Blank lines are skipped (and still counted).
import { createInterface } from 'node:readline';
import { err, ok, type Result } from 'neverthrow';
import { failure, type CliFailure } from './failure.js';

export interface Line {
  readonly line: number;
  readonly value: Record<string, unknown>;
}

/** Each line's object; a line that is not a JSON object ends the sequence with its failure. */
export async function* ndjsonObjects(input: NodeJS.ReadableStream): AsyncGenerator<Result<Line, CliFailure>> {
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line += 1;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      yield err(failure('BAD_FORMAT', `line ${line}: not JSON (${e instanceof Error ? e.message : String(e)})`));
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield err(failure('BAD_FORMAT', `line ${line}: expected a JSON object`));
      return;
    }
    yield ok({ line, value: value as Record<string, unknown> });
  }
}
