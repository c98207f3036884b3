// ws:// and wss:// push: the broker connects as a WebSocket client and sends each message as a `message` frame
// (PROTOCOL.md §5); delivered once the frame is written.
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import WebSocket from 'ws';
import type { PushAddress } from '../protocol/address.js';
import type { StoredMessage } from '../core/types.js';
import { messageFrame } from '../protocol/ws-frames.js';
import { deliveryError, type ClientTimeouts, type DeliveryError, type PushClient, type PushTrust } from './client.js';

export class WsClient implements PushClient {
  readonly protocol: 'ws' | 'wss';
  readonly isConnectionBased = true;
  readonly address: string;
  readonly #consumer: string;
  readonly #timeouts: ClientTimeouts;
  readonly #ca: string[] | undefined;
  #socket: WebSocket | undefined;
  #onDisconnect: (reason: string, clean: boolean) => void = () => {};

  /** `consumer` is what the frames carry as their subscription. */
  constructor(address: PushAddress, timeouts: ClientTimeouts, consumer: string, trust: PushTrust = {}) {
    this.protocol = address.protocol === 'wss' ? 'wss' : 'ws';
    this.#ca = trust.ca === undefined ? undefined : [...trust.ca];
    this.address = address.url;
    this.#timeouts = timeouts;
    this.#consumer = consumer;
  }

  connect(): ResultAsync<void, DeliveryError> {
    if (this.#socket !== undefined) return okAsync(undefined);
    const socket = new WebSocket(this.address, { handshakeTimeout: this.#timeouts.connectTimeoutMs, perMessageDeflate: false, ...(this.#ca === undefined ? {} : { ca: this.#ca }) });
    const opened = new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return ResultAsync.fromPromise(opened, (e) => deliveryError(`cannot connect: ${(e as Error).message}`, true)).map(() => {
      this.#socket = socket;
      socket.on('error', () => {});
      socket.once('close', (code) => {
        if (this.#socket !== socket) return;
        this.#socket = undefined;
        // 1000 and 1001 are a normal close or a peer going away in order; anything else (1006: dropped) is not.
        this.#onDisconnect(`connection closed (${code})`, code === 1000 || code === 1001);
      });
    });
  }

  send(message: StoredMessage, delivery: number): ResultAsync<void, DeliveryError> {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) return errAsync(deliveryError('not connected', true));
    const frame = messageFrame(this.#consumer, message, delivery);
    const sent = new Promise<void>((resolve, reject) => socket.send(frame, (e) => (e ? reject(e) : resolve())));
    return ResultAsync.fromPromise(sent, (e) => deliveryError(`send failed: ${(e as Error).message}`, true));
  }

  onDisconnect(listener: (reason: string, clean: boolean) => void): void {
    this.#onDisconnect = listener;
  }

  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.terminate();
    return Promise.resolve();
  }
}
