// A published payload as the log stores it, shared by the WebSocket API and the HTTP API. Pure.

/** A string is stored as it is; any other JSON value as its JSON text, which its content type then says. */
export function storedPayload(
  raw: unknown,
  metadata: Readonly<Record<string, unknown>> | undefined,
): { payload: string; metadata: Readonly<Record<string, unknown>> | undefined } {
  if (typeof raw === 'string') return { payload: raw, metadata };
  return {
    payload: JSON.stringify(raw),
    metadata: metadata?.['content_type'] !== undefined ? metadata : { ...metadata, content_type: 'application/json' },
  };
}
