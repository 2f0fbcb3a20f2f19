import { Pool } from 'pg';
import {
  CREATED_WITHOUT_TIMESCALE_WARNING,
  NOT_PRELOADED_WARNING,
  preloads,
  probeTimescaleSupport,
  TimescaleNotLoadedError,
} from './timescale-support';

interface Catalog {
  available: boolean;
  created: boolean;
  preload: string;
  migrated: boolean;
}

/** A pool answering the probe's one catalog query. */
function poolWith(catalog: Catalog): Pool {
  return { query: jest.fn().mockResolvedValue({ rows: [catalog] }) } as unknown as Pool;
}

const fresh = { available: true, created: false, preload: 'timescaledb', migrated: false };

describe('preloads', () => {
  it.each([
    ['timescaledb', true],
    ['pg_stat_statements, timescaledb', true],
    ['"timescaledb"', true],
    ['timescaledb-2.28.3', true],
    ['', false],
    ['pg_stat_statements', false],
    ['timescaledb_toolkit', false],
  ])('should read %j as preloading TimescaleDB: %s', (value, expected) => {
    expect(preloads(value, 'timescaledb')).toBe(expected);
  });
});

describe('probeTimescaleSupport', () => {
  it('should let the migrations create TimescaleDB on a server that preloads it', async () => {
    await expect(probeTimescaleSupport(poolWith(fresh), false)).resolves.toEqual({
      use: true,
      created: false,
    });
  });

  it('should use the extension already created on a server that preloads it', async () => {
    await expect(
      probeTimescaleSupport(poolWith({ ...fresh, created: true, migrated: true }), false),
    ).resolves.toEqual({ use: true, created: true });
  });

  it('should trust the embedded engine, which loads TimescaleDB itself', async () => {
    await expect(
      probeTimescaleSupport(poolWith({ ...fresh, preload: '', created: true }), true),
    ).resolves.toEqual({ use: true, created: true });
  });

  it('should run plain, with the warning, where TimescaleDB is installed but not preloaded', async () => {
    await expect(
      probeTimescaleSupport(poolWith({ ...fresh, preload: '' }), false),
    ).resolves.toEqual({ use: false, warning: NOT_PRELOADED_WARNING });
  });

  it('should run plain without a word where TimescaleDB is not installed', async () => {
    await expect(
      probeTimescaleSupport(poolWith({ ...fresh, available: false, preload: '' }), false),
    ).resolves.toEqual({ use: false });
  });

  it('should say that a database made on plain PostgreSQL stays plain once TimescaleDB is there', async () => {
    await expect(
      probeTimescaleSupport(poolWith({ ...fresh, migrated: true }), false),
    ).resolves.toEqual({ use: false, warning: CREATED_WITHOUT_TIMESCALE_WARNING });
  });

  it('should refuse a database that uses TimescaleDB on a server that no longer loads it', async () => {
    const probe = probeTimescaleSupport(
      poolWith({ ...fresh, created: true, preload: '', migrated: true }),
      false,
    );

    await expect(probe).rejects.toBeInstanceOf(TimescaleNotLoadedError);
    await expect(probe).rejects.toThrow("add shared_preload_libraries = 'timescaledb'");
  });
});
