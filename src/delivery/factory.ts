// Makes the client for a consumer's address (the client factory).
import { unreachable } from '../errors.js';
import type { PushAddress } from '../protocol/address.js';
import type { HttpPushFormat } from '../protocol/push-bodies.js';
import type { ClientTimeouts, PushClient, PushTrust } from './client.js';
import { HttpClient } from './http.js';
import { TcpClient } from './tcp.js';
import { UdpClient } from './udp.js';
import { WsClient } from './ws.js';

/** `push`: what an http(s) client sends (the consumer's format); the other protocols have one form each. */
export function createClient(consumer: string, address: PushAddress, timeouts: ClientTimeouts, trust: PushTrust = {}, push?: HttpPushFormat): PushClient {
  switch (address.protocol) {
    case 'tcp':
      return new TcpClient(address, timeouts);
    case 'udp':
      return new UdpClient(address);
    case 'http':
    case 'https':
      return new HttpClient(address, timeouts, trust, push);
    case 'ws':
    case 'wss':
      return new WsClient(address, timeouts, consumer, trust);
    default:
      return unreachable(address.protocol);
  }
}
