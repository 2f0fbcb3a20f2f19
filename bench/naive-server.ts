import { createServer } from 'node:http';
import { Pool } from 'pg';

/**
 * The naive client of DESIGN 8, served over HTTP so it is loaded exactly as
 * the service is: the same SQL through `pg` (the range count and the page's
 * rows, the derived buckets, the newest row), each row parsed into an
 * object, the answer built with JSON.stringify. No cache, no validation.
 * argv[2]: database URL; argv[3]: pool size (the service's DB_POOL_SIZE).
 */
const pool = new Pool({ connectionString: process.argv[2], max: Number(process.argv[3] ?? 10) });

const COLUMNS = `open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count`;

interface Row {
  timestamp: Date;
  open_price: number;
  high_price: number;
  low_price: number;
  close_price: number;
  volume: string;
  dollar_volume: number | null;
  trade_count: number | null;
}

function toPoint(r: Row) {
  return {
    timestamp: r.timestamp.toISOString(),
    open: r.open_price,
    high: r.high_price,
    low: r.low_price,
    close: r.close_price,
    volume: Number(r.volume),
    dollar_volume: r.dollar_volume,
    trade_count: r.trade_count,
  };
}

const BUCKETS = `WITH buckets AS (
  SELECT date_bin(make_interval(secs => $5), "timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z') AS bucket,
         (array_agg(open_price ORDER BY "timestamp"))[1] AS open_price,
         max(high_price) AS high_price,
         min(low_price) AS low_price,
         (array_agg(close_price ORDER BY "timestamp" DESC))[1] AS close_price,
         sum(volume) AS volume,
         CASE WHEN count(dollar_volume) = count(*) THEN sum(dollar_volume) END AS dollar_volume,
         CASE WHEN count(trade_count) = count(*) THEN sum(trade_count) END AS trade_count
    FROM market_data_ts
   WHERE instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4
   GROUP BY 1)`;

async function answer(url: URL): Promise<unknown> {
  const q = (name: string) => url.searchParams.get(name) ?? '';
  const series = [q('instrument_id'), q('timeframe')];
  if (url.pathname === '/latest') {
    const { rows } = await pool.query<Row>(
      `SELECT "timestamp", ${COLUMNS} FROM market_data_ts WHERE instrument_id = $1 AND timeframe = $2
        ORDER BY "timestamp" DESC LIMIT 1`,
      series,
    );
    return toPoint(rows[0]);
  }
  const range = [...series, q('start_time'), q('end_time')];
  const page = [Number(q('limit')), Number(q('offset') || 0)];
  if (url.pathname === '/derived') {
    const args = [
      q('instrument_id'),
      q('source'),
      q('start_time'),
      q('end_time'),
      Number(q('step_s')),
    ];
    const [count, points] = await Promise.all([
      pool.query<{ n: string }>(`${BUCKETS} SELECT count(*) AS n FROM buckets`, args),
      pool.query<Row>(
        `${BUCKETS} SELECT bucket AS "timestamp", ${COLUMNS} FROM buckets ORDER BY bucket LIMIT $6 OFFSET $7`,
        [...args, ...page],
      ),
    ]);
    return {
      instrument_id: series[0],
      timeframe: series[1],
      derived_from: q('source'),
      data_points: points.rows.map(toPoint),
      total_count: Number(count.rows[0].n),
    };
  }
  const where = `instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4`;
  const [count, points] = await Promise.all([
    pool.query<{ n: string }>(`SELECT count(*) AS n FROM market_data_ts WHERE ${where}`, range),
    pool.query<Row>(
      `SELECT "timestamp", ${COLUMNS} FROM market_data_ts WHERE ${where} ORDER BY "timestamp" LIMIT $5 OFFSET $6`,
      [...range, ...page],
    ),
  ]);
  return {
    instrument_id: series[0],
    timeframe: series[1],
    data_points: points.rows.map(toPoint),
    total_count: Number(count.rows[0].n),
  };
}

const server = createServer((req, res) => {
  answer(new URL(req.url ?? '/', 'http://naive')).then(
    (body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    },
    (error: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(error.message);
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.once('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
