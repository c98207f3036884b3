// EventBusError, the one error class of the client and the embedding API: the {code, message, cause?} shape
// of src/errors.ts as an Error, made from a Result's error or from an error frame.
import { describe, expect, test } from 'vitest';
import { EventBusError } from '../../src/client/errors.js';
import { brokerError } from '../../src/errors.js';

describe('EventBusError', () => {
  test("from a Result's error: the same code and message, the cause kept for the log", () => {
    const cause = new Error('disk I/O error');
    const e = EventBusError.from(brokerError('UNAVAILABLE', 'storage unavailable', cause));
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'EventBusError', code: 'UNAVAILABLE', message: 'storage unavailable', cause });
    expect(EventBusError.from(brokerError('BAD_TOPIC', 'no'))).not.toHaveProperty('cause');
    expect(EventBusError.from(e)).toBe(e);
  });

  test("from an error frame: the broker's code, or UNAVAILABLE naming a code this client does not know", () => {
    expect(EventBusError.fromWire('TOO_LARGE', 'payload of 2000000 bytes')).toMatchObject({ code: 'TOO_LARGE', message: 'payload of 2000000 bytes' });
    expect(EventBusError.fromWire('SOMETHING_NEW', 'from a newer broker')).toMatchObject({ code: 'UNAVAILABLE', message: 'SOMETHING_NEW: from a newer broker' });
  });
});
