// Whether the broker makes spans (PROTOCOL.md §13): the standard OpenTelemetry variables decide, as they do for
// any program instrumented with the SDK. Kept apart from otel.ts so that deciding loads none of the SDK.

type Env = Readonly<Record<string, string | undefined>>;

const isSet = (v: string | undefined): boolean => v !== undefined && v.trim() !== '';

/**
 * An OTLP endpoint is set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT for every
 * signal), and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none turns the SDK off.
 */
export function tracingWanted(env: Env): boolean {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  if (env['OTEL_TRACES_EXPORTER']?.split(',').some((e) => e.trim().toLowerCase() === 'none') === true) return false;
  return isSet(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) || isSet(env['OTEL_EXPORTER_OTLP_ENDPOINT']);
}
