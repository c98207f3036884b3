// Reply lines of the telnet front-ends (PROTOCOL.md §3, §4). Pure.
import type { Published, Scheduled } from '../core/types.js';
import type { BrokerError } from '../errors.js';

/** `ERR <CODE> <reason>`, on one line whatever the reason holds. */
export const formatErr = (e: BrokerError): string => `ERR ${e.code} ${e.message.replace(/[\r\n]+/g, ' ')}`;

/** `OK <seq>`, or `OK <seq> DUPLICATE` when the message id was already in the log. */
export const formatPublished = (p: Published): string => (p.duplicate ? `OK ${p.seq} DUPLICATE` : `OK ${p.seq}`);

/** `OK scheduled <schedule_id> <deliver_at ms>`, with ` DUPLICATE` when that message_id was waiting already (PROTOCOL.md §11). */
export const formatScheduled = (s: Scheduled): string => `OK scheduled ${s.scheduleId} ${s.deliverAt}${s.duplicate ? ' DUPLICATE' : ''}`;
