// The transport server (PROTOCOL.md §3, default port 49152): each line is one publish, answered `OK <seq>`
// once durable or `ERR <CODE> <reason>`, in line order. A thin adapter: parse → broker.publish → reply.
import type { Config } from '../config.js';
import type { Broker } from '../core/broker.js';
import { brokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parsePublishLine } from '../protocol/ingress.js';
import { formatErr, formatPublished } from '../protocol/replies.js';
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
      ...lineLimits(config),
    },
    {
      line: (text) => {
        const input = parsePublishLine(text);
        if (input.isErr()) return formatErr(input.error);
        // The broker's BAD_ARGS (an empty message_id, a bad content_type) is a malformed line here: §3 lists
        // BAD_FORMAT for it.
        return broker
          .publish(input.value)
          .match(formatPublished, (e) => formatErr(e.code === 'BAD_ARGS' ? brokerError('BAD_FORMAT', e.message) : e));
      },
      tooLong: (bytes) =>
        formatErr(brokerError('TOO_LARGE', `line of ${bytes} bytes is over the limit (EVENTBUS_MAX_PAYLOAD ${config.maxPayloadBytes})`)),
    },
    logger,
  );
}
