// The outbound side of push delivery: one interface, one implementation per protocol,
// made from the consumer's address by createClient().
import type { ResultAsync } from 'neverthrow';
import type { Delivery, StoredMessage } from '../core/types.js';
import type { PushAddress, PushProtocol } from '../protocol/address.js';

export interface DeliveryError {
  /** One line, for the log and the delivery_failures table. */
  readonly reason: string;
  /** The answer's status, for http. */
  readonly httpStatus?: number | undefined;
  /** The connection is gone (tcp, ws): stop sending until reconnected. */
  readonly disconnected: boolean;
}

export interface ClientTimeouts {
  readonly connectTimeoutMs: number;
  readonly sendTimeoutMs: number;
}

/** Whom https:// and wss:// endpoints are checked against. */
export interface PushTrust {
  /** The CAs trusted (EVENTBUS_PUSH_CA with Node's bundled ones); undefined: Node's default store. */
  readonly ca?: readonly string[] | undefined;
}

export interface PushClient {
  readonly protocol: PushProtocol;
  /** The address as registered. */
  readonly address: string;
  /** Connection-based clients (tcp, ws, wss) deliver only while connected; udp, http and https always may try. */
  readonly isConnectionBased: boolean;
  /** Opens the connection (tcp, ws); resolves at once for the others. */
  connect(): ResultAsync<void, DeliveryError>;
  /**
   * Sends the message, tried for the `delivery`-th time; resolves once it counts as delivered: written (tcp,
   * ws), sent (udp), answered 2xx (http).
   */
  send(message: StoredMessage, delivery: number): ResultAsync<void, DeliveryError>;
  /** Where a batch can go out at once (one write), all of it counts as delivered together. */
  sendMany?(batch: readonly Delivery[]): ResultAsync<void, DeliveryError>;
  /**
   * Called when an open connection ends by itself. `clean`: the peer closed normally, having read what it
   * was sent (a peer that closes with unread data resets the connection instead).
   */
  onDisconnect(listener: (reason: string, clean: boolean) => void): void;
  close(): Promise<void>;
}

export type ClientFactory = (address: PushAddress, timeouts: ClientTimeouts) => PushClient;

export const deliveryError = (reason: string, disconnected: boolean, httpStatus?: number): DeliveryError => ({
  reason,
  disconnected,
  httpStatus,
});
