// The eventbus client package: what `import … from 'eventbus-broker'` gives a TypeScript service.
export { connect, EventBusClient } from './client.js';
export type { BatchEntry, BatchMessage, ClientStatus, ConnectOptions, PublishNow, PublishOptions, PublishTime, Scheduled } from './options.js';
export { EventBusError } from './errors.js';
export type { ErrorCode } from '../errors.js';
export { Subscription, type ReceivedMessage, type SubscribeOptions } from './subscription.js';
// The EventClient interface, with this client as its backend (the in-process backend is in 'eventbus-broker/server').
export * from './events/interface.js';
export { WsEventClient } from './events/ws-event-client.js';
export { HttpEventClient } from './events/http-event-client.js';
