// tcp:// push: one persistent connection; each message is its payload and '\n'; delivered once written.
// sendMany writes a batch in one write: one syscall per message was the broker's largest cost.
import net from 'node:net';
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import type { PushAddress } from '../protocol/address.js';
import type { Delivery, StoredMessage } from '../core/types.js';
import { tcpPushLine } from '../protocol/push-bodies.js';
import { deliveryError, type ClientTimeouts, type DeliveryError, type PushClient } from './client.js';

export class TcpClient implements PushClient {
  readonly protocol = 'tcp';
  readonly isConnectionBased = true;
  readonly address: string;
  readonly #target: PushAddress;
  readonly #timeouts: ClientTimeouts;
  #socket: net.Socket | undefined;
  #onDisconnect: (reason: string, clean: boolean) => void = () => {};

  constructor(address: PushAddress, timeouts: ClientTimeouts) {
    this.address = address.url;
    this.#target = address;
    this.#timeouts = timeouts;
  }

  connect(): ResultAsync<void, DeliveryError> {
    if (this.#socket !== undefined) return okAsync(undefined);
    const { host, port } = this.#target;
    const socket = net.connect({ host: host.replace(/^\[|\]$/g, ''), port });
    socket.setNoDelay(true);
    socket.setTimeout(this.#timeouts.connectTimeoutMs);
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        socket.setTimeout(0);
        resolve();
      });
      socket.once('timeout', () => {
        socket.destroy();
        reject(new Error(`connect timed out after ${this.#timeouts.connectTimeoutMs} ms`));
      });
      socket.once('error', reject);
    });
    return ResultAsync.fromPromise(connected, (e) => deliveryError(`cannot connect: ${(e as Error).message}`, true)).map(() => {
      this.#socket = socket;
      socket.on('error', () => {}); // 'close' follows and says what matters
      socket.on('data', () => {}); // whatever the consumer sends back is read and dropped
      socket.once('close', (hadError) => {
        if (this.#socket !== socket) return;
        this.#socket = undefined;
        this.#onDisconnect(hadError ? 'connection reset' : 'connection closed by the consumer', !hadError);
      });
    });
  }

  send(message: StoredMessage): ResultAsync<void, DeliveryError> {
    return this.#write(tcpPushLine(message));
  }

  sendMany(batch: readonly Delivery[]): ResultAsync<void, DeliveryError> {
    let text = '';
    for (const d of batch) text += tcpPushLine(d.message);
    return this.#write(text);
  }

  #write(text: string): ResultAsync<void, DeliveryError> {
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) return errAsync(deliveryError('not connected', true));
    const written = new Promise<void>((resolve, reject) => socket.write(text, (e) => (e ? reject(e) : resolve())));
    return ResultAsync.fromPromise(written, (e) => deliveryError(`write failed: ${(e as Error).message}`, true));
  }

  onDisconnect(listener: (reason: string, clean: boolean) => void): void {
    this.#onDisconnect = listener;
  }

  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
    return Promise.resolve();
  }
}
