// The one error class the client throws: the broker's code (PROTOCOL.md §5) and its reason. Connection
// trouble the client sees itself is UNAVAILABLE, as the broker would say it.

export class EventBusError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventBusError';
    this.code = code;
  }
}
