// http:// and https:// push: a POST per message, of {"seq","topic","payload","message_id","metadata","delivery"}
// or, for a consumer of `"format":"cloudevents"`, of a binary-mode CloudEvent; any 2xx acks it, anything else (or
// a timeout) is a failed attempt, told by its status line and the start of its body. One request at a time keeps
// them in order.
import http from 'node:http';
import https from 'node:https';
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import type { PushAddress } from '../protocol/address.js';
import type { StoredMessage } from '../core/types.js';
import { httpPushRequest, type HttpPushFormat } from '../protocol/push-bodies.js';
import { deliveryError, type ClientTimeouts, type DeliveryError, type PushClient, type PushTrust } from './client.js';

/** How much of a failed answer's body is read for its text: enough for BODY_CHARS_SHOWN characters of UTF-8. */
const BODY_BYTES_KEPT = 1024;
/** The characters of a failed answer's body its text shows. */
export const BODY_CHARS_SHOWN = 200;

interface Answer {
  readonly status: number;
  readonly statusText: string;
  /** The start of the body (of a failed answer only). */
  readonly body: string;
}

/**
 * A failed answer in one line, for the log, delivery_failures and a dead letter's reason:
 * `HTTP 500 Internal Server Error: <the body's first 200 characters, whitespace folded>`.
 */
export function httpFailureText(status: number, statusText: string, body: string): string {
  const head = `HTTP ${status}${statusText === '' ? '' : ` ${statusText}`}`;
  // Control characters (a line break could forge a log line or a LIST line) fold into spaces.
  // eslint-disable-next-line no-control-regex -- the control characters are what is matched
  const text = body.replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  if (text === '') return head;
  // By grapheme: a cut never splits a character (nor an emoji of several code points).
  const chars = Array.from(new Intl.Segmenter().segment(text), (g) => g.segment);
  return `${head}: ${chars.length > BODY_CHARS_SHOWN ? `${chars.slice(0, BODY_CHARS_SHOWN).join('')}…` : text}`;
}

export class HttpClient implements PushClient {
  readonly protocol: 'http' | 'https';
  readonly isConnectionBased = false;
  readonly address: string;
  readonly #target: PushAddress;
  readonly #timeouts: ClientTimeouts;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #push: HttpPushFormat;

  constructor(address: PushAddress, timeouts: ClientTimeouts, trust: PushTrust = {}, push: HttpPushFormat = { format: 'eventbus' }) {
    this.protocol = address.protocol === 'https' ? 'https' : 'http';
    this.address = address.url;
    this.#target = address;
    this.#timeouts = timeouts;
    this.#push = push;
    const agentOptions = { keepAlive: true, maxSockets: 1 };
    if (this.protocol === 'https') {
      this.#agent = new https.Agent({ ...agentOptions, ...(trust.ca === undefined ? {} : { ca: [...trust.ca] }) });
      this.#request = https.request;
    } else {
      this.#agent = new http.Agent(agentOptions);
      this.#request = http.request;
    }
  }

  connect(): ResultAsync<void, DeliveryError> {
    return okAsync(undefined);
  }

  send(message: StoredMessage, delivery: number): ResultAsync<void, DeliveryError> {
    const { headers, body } = httpPushRequest(this.#push, message, delivery);
    const answered = new Promise<Answer>((resolve, reject) => {
      const request = this.#request(
        {
          host: this.#target.host.replace(/^\[|\]$/g, ''),
          port: this.#target.port,
          path: this.#target.path,
          method: 'POST',
          agent: this.#agent,
          timeout: this.#timeouts.sendTimeoutMs,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          // A failure's body says why (an error page, a stack): its start is kept for the failure's text. The
          // rest, and a success's body, is read and dropped, for the socket to be reused.
          const kept: Buffer[] = [];
          let keptBytes = 0;
          if (status < 200 || status >= 300) {
            response.on('data', (chunk: Buffer) => {
              if (keptBytes >= BODY_BYTES_KEPT) return;
              kept.push(chunk);
              keptBytes += chunk.length;
            });
          } else response.resume();
          response.once('end', () => resolve({ status, statusText: response.statusMessage ?? '', body: Buffer.concat(kept).toString('utf8') }));
          response.once('error', reject);
        },
      );
      request.once('timeout', () => request.destroy(new Error(`no answer within ${this.#timeouts.sendTimeoutMs} ms`)));
      request.once('error', reject);
      request.end(body);
    });
    return ResultAsync.fromPromise(answered, (e) => deliveryError(`request failed: ${(e as Error).message}`, false)).andThen(
      ({ status, statusText, body }) =>
        status >= 200 && status < 300 ? okAsync(undefined) : errAsync(deliveryError(httpFailureText(status, statusText, body), false, status)),
    );
  }

  onDisconnect(): void {}

  close(): Promise<void> {
    this.#agent.destroy();
    return Promise.resolve();
  }
}
