// Makes the client for a consumer's address (the client factory).
import { unreachable } from '../errors.js';
import type { PushAddress } from '../protocol/address.js';
import type { ClientTimeouts, PushClient, PushTrust } from './client.js';
import { HttpClient } from './http.js';
import { TcpClient } from './tcp.js';
import { UdpClient } from './udp.js';
import { WsClient } from './ws.js';

export function createClient(consumer: string, address: PushAddress, timeouts: ClientTimeouts, trust: PushTrust = {}): PushClient {
  switch (address.protocol) {
    case 'tcp':
      return new TcpClient(address, timeouts);
    case 'udp':
      return new UdpClient(address);
    case 'http':
    case 'https':
      return new HttpClient(address, timeouts, trust);
    case 'ws':
    case 'wss':
      return new WsClient(address, timeouts, consumer, trust);
    default:
      return unreachable(address.protocol);
  }
}
