// Healthy push consumers beside broken ones, for `npm run bench`: three healthy consumers (tcp, http, ws)
// take bursts alone, then beside a tcp consumer that never reads, a ws consumer that stops reading, a tcp
// address that resets every connection and an http endpoint that answers after the push timeout. The row is
// the healthy consumers' rate beside the broken ones ÷ their rate alone, in the same run: one slow or dead
// consumer must never delay another (test/faults/slow-consumers.test.ts holds the guarantee itself).
import { endpoint, lateHttpEndpoint, resettingEndpoint, type Endpoint } from '../test/helpers/consumers.js';
import { now, Progress, rate, type Row } from './lib.js';
import { command, pipeline, startBroker } from './network.js';

const BURST = 3000;
const BURSTS = 5;
const MAX_IN_FLIGHT = 64;
const PAYLOAD = 'p'.repeat(1000);

export async function slowConsumers(dir: string, sync: string): Promise<Row> {
  const broker = await startBroker(dir, sync, 'slow-consumers.db', ['--push-timeout-ms', '300', '--push-connect-timeout-ms', '500', '--max-in-flight', String(MAX_IN_FLIGHT)]);
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const register = async (id: string, address: string): Promise<void> => {
      const reply = await command(broker.registration, `REGISTER ${id} ${address} slow.*`);
      if (!reply.startsWith('OK')) throw new Error(reply);
    };
    const started = async (e: Endpoint): Promise<Endpoint> => {
      await e.start();
      closers.push(() => e.stop());
      return e;
    };
    const healthy = [await started(endpoint('tcp')), await started(endpoint('http')), await started(endpoint('ws'))];
    for (const [i, e] of healthy.entries()) await register(`healthy-${i}`, e.url);
    /** Messages a second until every healthy consumer has `BURSTS` bursts more. */
    const measure = async (what: string): Promise<number> => {
      const before = healthy.map((e) => e.received.length);
      const progress = new Progress(what, BURST * BURSTS);
      const t0 = now();
      for (let b = 0; b < BURSTS; b++) {
        await pipeline(broker.transport, BURST, 500, (i) => `slow.${what.replace(/\W/g, '')}:${b}-${i}-${PAYLOAD}\n`, () => {});
        await Promise.all(healthy.map((e, i) => e.waitFor(before[i]! + (b + 1) * BURST, 120_000)));
        progress.tick((b + 1) * BURST);
      }
      progress.end(BURST * BURSTS);
      return rate(BURST * BURSTS * healthy.length, now() - t0);
    };
    await measure('warm-up');
    const alone = await measure('healthy push consumers alone');
    await register('never-reads-tcp', (await started(endpoint('tcp', { stalled: true }))).url);
    await register('stops-reading-ws', (await started(endpoint('ws', { stalled: true }))).url);
    for (const [id, start] of [['resets-tcp', resettingEndpoint()], ['late-http', lateHttpEndpoint(1000)]] as const) {
      const e = await start;
      closers.push(() => e.close());
      await register(id, e.url);
    }
    await measure('filling the broken ones');
    const beside = await measure('healthy push consumers beside broken ones');
    return {
      name: 'push to 3 healthy consumers beside 4 broken',
      msgs: BURST * BURSTS * healthy.length,
      msgPerSec: beside,
      vsLimit: beside / alone,
      note: `deliveries/s to the healthy ones; vs limit = ÷ the same alone (${alone}/s)`,
    };
  } finally {
    for (const close of closers.reverse()) await close();
    await broker.stop();
  }
}
