// udp:// push: one datagram per message, the payload only; best effort, delivered once sent.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { okAsync, ResultAsync } from 'neverthrow';
import type { PushAddress } from '../protocol/address.js';
import type { StoredMessage } from '../core/types.js';
import { deliveryError, type DeliveryError, type PushClient } from './client.js';

export class UdpClient implements PushClient {
  readonly protocol = 'udp';
  readonly isConnectionBased = false;
  readonly address: string;
  readonly #host: string;
  readonly #port: number;
  readonly #socket: dgram.Socket;

  constructor(address: PushAddress) {
    this.address = address.url;
    this.#host = address.host.replace(/^\[|\]$/g, '');
    this.#port = address.port;
    this.#socket = dgram.createSocket(isIPv6(this.#host) ? 'udp6' : 'udp4');
    this.#socket.on('error', () => {}); // a send's own callback reports its failure
    this.#socket.unref();
  }

  connect(): ResultAsync<void, DeliveryError> {
    return okAsync(undefined);
  }

  send(message: StoredMessage): ResultAsync<void, DeliveryError> {
    const sent = new Promise<void>((resolve, reject) => {
      this.#socket.send(message.payload, this.#port, this.#host, (e) => (e ? reject(e) : resolve()));
    });
    return ResultAsync.fromPromise(sent, (e) => deliveryError(`send failed: ${(e as Error).message}`, false));
  }

  onDisconnect(): void {}

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}
