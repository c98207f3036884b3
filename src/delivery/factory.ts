// Makes the client for a consumer's address (the client factory).
import { unreachable } from '../errors.js';
import type { PushAddress } from '../protocol/address.js';
import type { ClientTimeouts, PushClient } from './client.js';
import { HttpClient } from './http.js';
import { TcpClient } from './tcp.js';
import { UdpClient } from './udp.js';
import { WsClient } from './ws.js';

export function createClient(consumer: string, address: PushAddress, timeouts: ClientTimeouts): PushClient {
  switch (address.protocol) {
    case 'tcp':
      return new TcpClient(address, timeouts);
    case 'udp':
      return new UdpClient(address);
    case 'http':
      return new HttpClient(address, timeouts);
    case 'ws':
      return new WsClient(address, timeouts, consumer);
    default:
      return unreachable(address.protocol);
  }
}
