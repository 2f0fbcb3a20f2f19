import { BytesPerBar } from './peer-systems';
import { ms, printTable, recordBudget } from './support';

/** Samples by measure, then by system: one value a round (ingest: a round per client count). */
export type Samples = Map<string, Map<string, number[]>>;

const PEERS = ['InfluxDB', 'ClickHouse'];
const SERVICES = ['service, plain PG', 'service, TimescaleDB'];
const COPY = 'psql \\copy';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const thousands = (v: number) => `${(v / 1000).toFixed(v >= 100_000 ? 0 : 1)}k`;
const fixed = (digits: number) => (v: number) => v.toFixed(digits);

/** The median, and the spread (min-max) when there is more than one sample. */
function cell(values: readonly number[] | undefined, format: (v: number) => string): string {
  if (!values?.length) return '';
  const text = format(median(values));
  if (values.length === 1) return text;
  return `${text} (${format(Math.min(...values))}-${format(Math.max(...values))})`;
}

/**
 * Writes the side-by-side table (rows = measures, columns = systems) and the
 * goals of DESIGN 8 as ratios of this run, met or missed; a goal whose peer
 * was skipped is left out.
 */
export function peersReport(
  systems: readonly string[],
  samples: Samples,
  bytes: Map<string, BytesPerBar>,
  bars: number,
  monthDays: number,
): void {
  const get = (measure: string, system: string) => samples.get(measure)?.get(system);
  const row = (label: string, measure: string, format: (v: number) => string) => [
    label,
    ...systems.map((s) => cell(get(measure, s), format)),
  ];
  /** Answers per second under load (`${shape}Rps`), with the non-2xx count (`${shape}Failed`). */
  const loadRow = (label: string, shape: string) => [
    label,
    ...systems.map((s) => {
      const failed = get(`${shape}Failed`, s);
      const text = cell(get(`${shape}Rps`, s), fixed(1));
      return failed ? `${text} (${failed.reduce((a, b) => a + b, 0)})` : text;
    }),
  ];
  const month = `${monthDays} days (${(monthDays * 1440).toLocaleString('en')} bars)`;
  const rows = [
    row('ingest, 1 client, bars/s', 'ingest1', thousands),
    row('ingest, 4 clients, bars/s', 'ingest4', thousands),
    [
      'server CPU s per 100k bars (service: Node share)',
      ...systems.map((s) => {
        const share = get('cpuNode', s);
        const text = cell(get('cpu', s), fixed(2));
        return share ? `${text}, Node ${Math.round(median(share) * 100)} %` : text;
      }),
    ],
    row('1 day (1,440 bars) uncached, seq p50 ms', 'dayP50', ms),
    row('1 day, 32 clients, req/s', 'dayRps', fixed(1)),
    row(`${month} uncached, seq p50 ms`, 'monthP50', ms),
    loadRow(`${monthDays} days, 32 clients, req/s (non-2xx answers)`, 'month'),
    row(`${month} uncached as Arrow, seq p50 ms`, 'monthArrowP50', ms),
    loadRow(`${monthDays} days as Arrow, 32 clients, req/s (non-2xx answers)`, 'monthArrow'),
    row(`${monthDays} days cached, seq p50 ms`, 'cachedP50', ms),
    row(`ONE_HOUR over ${monthDays} days uncached, seq p50 ms`, 'hourP50', ms),
    [
      'bytes per bar',
      ...systems.map((s) => {
        const b = bytes.get(s);
        if (!b) return '';
        const rollups =
          b.withRollups !== undefined ? `, ${b.withRollups.toFixed(1)} with rollups` : '';
        return `${b.perBar.toFixed(1)} (${b.note}${rollups})`;
      }),
    ],
  ];
  printTable(
    `The service and its peers, ${bars.toLocaleString('en')} 1-minute bars; medians (min-max over the rounds)`,
    ['measure', ...systems],
    rows,
  );
  goals(systems, samples, bytes, `${monthDays} days`);
}

function goals(
  systems: readonly string[],
  samples: Samples,
  bytes: Map<string, BytesPerBar>,
  month: string,
): void {
  const value = (measure: string, system: string) => {
    const values = samples.get(measure)?.get(system);
    return values?.length ? median(values) : undefined;
  };
  const peers = PEERS.filter((p) => systems.includes(p));
  const best = (measure: string) => {
    const values = peers.map((p) => value(measure, p)).filter((v): v is number => v !== undefined);
    return values.length ? Math.min(...values) : undefined;
  };
  /** The service's figure over the reference's: at least `min` (rates) or at most `max` (costs). */
  const ratio = (
    name: string,
    service: number | undefined,
    reference: number | undefined,
    rule: { min?: number; max?: number },
    against: string,
  ) => {
    if (service === undefined || reference === undefined || reference === 0) return;
    const r = service / reference;
    recordBudget({
      name: `${name} (x ${against})`,
      target: rule.min !== undefined ? `>= ${rule.min}x` : `<= ${rule.max}x`,
      measured: `${r.toFixed(2)}x`,
      pass: rule.min !== undefined ? r >= rule.min : r <= (rule.max as number),
    });
  };
  for (const service of SERVICES.filter((s) => systems.includes(s))) {
    for (const clients of [1, 4]) {
      const rate = value(`ingest${clients}`, service);
      const what = `ingest bars/s, ${clients} client${clients > 1 ? 's' : ''}, ${service}`;
      ratio(what, rate, value(`ingest${clients}`, 'InfluxDB'), { min: 1 }, 'InfluxDB');
      ratio(what, rate, value(`ingest${clients}`, COPY), { min: 0.8 }, COPY);
    }
    ratio(
      `server CPU per bar, ${service}`,
      value('cpu', service),
      value('cpu', 'ClickHouse'),
      { max: 1.5 },
      'ClickHouse',
    );
    ratio(
      `1 day uncached p50, ${service}`,
      value('dayP50', service),
      best('dayP50'),
      { max: 1.5 },
      'best peer',
    );
    ratio(
      `${month} uncached p50, ${service}`,
      value('monthP50', service),
      value('monthP50', 'ClickHouse'),
      { max: 1.5 },
      'ClickHouse JSONEachRow',
    );
    ratio(
      `${month} uncached as Arrow p50, ${service}`,
      value('monthArrowP50', service),
      value('monthP50', 'ClickHouse'),
      { max: 1 },
      'ClickHouse JSONEachRow',
    );
    const failed = samples.get('monthFailed')?.get(service);
    if (failed)
      recordBudget({
        name: `${month}, 32 clients, non-2xx answers, ${service}`,
        target: '0',
        measured: String(failed.reduce((a, b) => a + b, 0)),
        pass: failed.every((f) => f === 0),
      });
    ratio(
      `${month} cached p50, ${service}`,
      value('cachedP50', service),
      best('monthP50'),
      { max: 1 },
      'best peer uncached',
    );
    ratio(
      `ONE_HOUR over ${month} uncached p50, ${service}`,
      value('hourP50', service),
      best('hourP50'),
      { max: 2 },
      'best peer',
    );
    const own = bytes.get(service);
    ratio(
      `bytes per bar with rollups, ${service}`,
      own?.withRollups ?? own?.perBar,
      bytes.get('ClickHouse')?.perBar,
      { max: 1 },
      'ClickHouse',
    );
  }
}
