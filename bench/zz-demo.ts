import { Logger } from '@nestjs/common';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';

async function main() {
  Logger.overrideLogger(['error']);
  const app = await createApp(loadSettings({ DATA_DIR: mkdtempSync(join(tmpdir(), 'demo-')), LOG_LEVEL: 'error', COMPRESSION_JOB_INTERVAL_MS: '0' }));
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/api/v1/storage`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    console.log(`\n### ${method} ${path}\n${body ? JSON.stringify(body) + '\n' : ''}-> ${res.status} ${await res.text()}`);
  };
  await call('POST', '/store', { instrument_id: 'AAPL', data_type: 'TRADE', data_points: [
    { timestamp: '2025-06-23T13:30:00.000125Z', price: 187.25, size: 100, trade_id: '52983525027888', conditions: ['@', 'O'] },
    { timestamp: '2025-06-23T13:30:00.000125Z', price: 187.26, size: 200, trade_id: '52983525027889' },
    { timestamp: '2025-06-23T13:30:00.004310Z', price: 187.24, size: 50 },
    { timestamp: '2025-06-23T13:30:00.004310Z', price: 187.24, size: 50 },
    { timestamp: '2025-06-23T13:31:12.250000Z', price: 187.4, size: 300, trade_id: 52983525027901 },
    { timestamp: '2025-06-23T13:31:12.250000Z', price: 187.41, size: -3 },
  ]});
  await call('POST', '/store', { instrument_id: 'AAPL', data_type: 'QUOTE', data_points: [
    { timestamp: '2025-06-23T13:30:00.000100Z', bid: 187.24, ask: 187.26, bid_size: 300, ask_size: 200 },
    { timestamp: '2025-06-23T13:30:00.000100Z', bid: 187.23, ask: 187.27, bid_size: 100, ask_size: 100, source: 'ARCX' },
    { timestamp: '2025-06-23T13:30:00.003000Z', bid: 187.27, ask: 187.26, bid_size: 300, ask_size: 200 },
  ]});
  await call('GET', '/query?instrument_id=AAPL&data_type=TRADE&start_time=2025-06-23T13:30:00Z&end_time=2025-06-23T14:00:00Z&limit=3');
  await call('GET', '/query?instrument_id=AAPL&data_type=TRADE&start_time=2025-06-23T13:30:00Z&end_time=2025-06-23T14:00:00Z&limit=3&cursor=CURSOR');
  await call('GET', '/query?instrument_id=AAPL&timeframe=ONE_MINUTE&start_time=2025-06-23T13:30:00Z&end_time=2025-06-23T14:00:00Z');
  await call('GET', '/instruments/AAPL/latest?data_type=QUOTE');
  await app.close();
}
main();
