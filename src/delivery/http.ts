// http:// and https:// push: a POST of {"seq","topic","payload","message_id","metadata","delivery"} per
// message; any 2xx acks it, anything else (or a timeout) is a failed attempt. One request at a time keeps them
// in order.
import http from 'node:http';
import https from 'node:https';
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import type { PushAddress } from '../protocol/address.js';
import type { StoredMessage } from '../core/types.js';
import { httpPushBody } from '../protocol/push-bodies.js';
import { deliveryError, type ClientTimeouts, type DeliveryError, type PushClient, type PushTrust } from './client.js';

export class HttpClient implements PushClient {
  readonly protocol: 'http' | 'https';
  readonly isConnectionBased = false;
  readonly address: string;
  readonly #target: PushAddress;
  readonly #timeouts: ClientTimeouts;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;

  constructor(address: PushAddress, timeouts: ClientTimeouts, trust: PushTrust = {}) {
    this.protocol = address.protocol === 'https' ? 'https' : 'http';
    this.address = address.url;
    this.#target = address;
    this.#timeouts = timeouts;
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
    const body = httpPushBody(message, delivery);
    const answered = new Promise<number>((resolve, reject) => {
      const request = this.#request(
        {
          host: this.#target.host.replace(/^\[|\]$/g, ''),
          port: this.#target.port,
          path: this.#target.path,
          method: 'POST',
          agent: this.#agent,
          timeout: this.#timeouts.sendTimeoutMs,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume(); // the body is not needed, but must be read for the socket to be reused
          response.once('end', () => resolve(response.statusCode ?? 0));
          response.once('error', reject);
        },
      );
      request.once('timeout', () => request.destroy(new Error(`no answer within ${this.#timeouts.sendTimeoutMs} ms`)));
      request.once('error', reject);
      request.end(body);
    });
    return ResultAsync.fromPromise(answered, (e) => deliveryError(`request failed: ${(e as Error).message}`, false)).andThen(
      (status) =>
        status >= 200 && status < 300
          ? okAsync(undefined)
          : errAsync(deliveryError(`answered ${status}`, false, status)),
    );
  }

  onDisconnect(): void {}

  close(): Promise<void> {
    this.#agent.destroy();
    return Promise.resolve();
  }
}
