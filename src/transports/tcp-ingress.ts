// The transport server (PROTOCOL.md §3, default port 49152): each line is one publish, answered `OK <seq>`
// once durable or `ERR <CODE> <reason>`, in line order. A thin adapter: parse → may it (§12) → broker.publish →
// reply.
import type { Config } from '../config.js';
import type { Broker } from '../core/broker.js';
import { brokerError, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parsePublishLine } from '../protocol/ingress.js';
import { formatErr, formatPublished, formatScheduled } from '../protocol/replies.js';
import { LineServer, lineLimits, type LineLimitsConfig } from './line-server.js';

// Room for the topic and the JSON form's field names and escapes around a payload of the maximum size.
const LINE_OVERHEAD_BYTES = 1024;

export type IngressConfig = Pick<Config, 'host' | 'transportPort' | 'maxPayloadBytes'> & LineLimitsConfig;

export function createTransportServer(broker: Broker, config: IngressConfig, logger: Logger): LineServer {
  const maxLineBytes = config.maxPayloadBytes + LINE_OVERHEAD_BYTES;
  return new LineServer(
    {
      name: 'transport',
      host: config.host,
      port: config.transportPort,
      maxLineBytes,
      gate: broker.gate,
      ...lineLimits(config),
    },
    {
      line: (text, _conn, principal) => {
        const input = parsePublishLine(text);
        if (input.isErr()) return formatErr(input.error);
        const allowed = principal.publish([input.value.topic]);
        if (allowed.isErr()) return formatErr(allowed.error);
        // The broker's BAD_ARGS (an empty message_id, a bad content_type, a bad time) is a malformed line here:
        // §3's codes are a closed list, with BAD_FORMAT for it.
        const refused = (e: BrokerError): string => formatErr(e.code === 'BAD_ARGS' ? brokerError('BAD_FORMAT', e.message) : e);
        const { time } = input.value;
        if (time !== undefined) return broker.publishLater(input.value, time).match((p) => ('scheduleId' in p ? formatScheduled(p) : formatPublished(p)), refused);
        return broker.publish(input.value).match(formatPublished, refused);
      },
      tooLong: (bytes) =>
        formatErr(brokerError('TOO_LARGE', `line of ${bytes} bytes is over the limit (EVENTBUS_MAX_PAYLOAD ${config.maxPayloadBytes})`)),
    },
    logger,
  );
}
