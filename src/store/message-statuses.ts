// The statuses a message has in the log (PROTOCOL.md §6), declared once for both schemas and for the SQL of
// both stores, which interpolates them: a renamed or added status cannot miss a statement. Checked against
// the port's MessageStatus both ways.
import type { MessageStatus } from '../core/store-port.js';

/** Each status by name, for SQL text: `SET status = '${MESSAGE_STATUS.dead}'`. */
export const MESSAGE_STATUS = Object.freeze({
  pending: 'pending',
  processed: 'processed',
  dead: 'dead',
} as const satisfies { readonly [S in MessageStatus]: S });

/** The same, as the list a schema's text enum takes. */
export const MESSAGE_STATUSES = Object.values(MESSAGE_STATUS) as [MessageStatus, ...MessageStatus[]];
