import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyColumn, CopyEncoder } from '../src/repositories/copy-encoding';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * The COPY encoder against a real PostgreSQL (the embedded engine has no
 * COPY): binary and text encodings of the same rows must store the same
 * values, edge values included.
 */
interface Row {
  ms: number;
  price: number;
  volume: string;
  count: number | null;
  note: string | null;
  /** Epoch microseconds (trades and quotes). */
  us: number;
  /** A text[] (trade conditions). */
  tags: readonly string[] | null;
}

const COLUMNS: readonly CopyColumn<Row, string>[] = [
  { name: 'at', kind: 'epochMs', value: (r) => r.ms },
  { name: 'name', kind: 'text', value: (_r, group) => group },
  { name: 'price', kind: 'number', value: (r) => r.price },
  { name: 'volume', kind: 'decimal', value: (r) => r.volume },
  { name: 'count', kind: 'integer', value: (r) => r.count },
  { name: 'note', kind: 'text', value: (r) => r.note },
  { name: 'us', kind: 'epochUs', value: (r) => r.us },
  { name: 'tags', kind: 'textArray', value: (r) => r.tags },
];

const TYPES = new Map([
  ['at', 'timestamptz'],
  ['name', 'varchar'],
  ['price', 'float8'],
  ['volume', 'int8'],
  ['count', 'int4'],
  ['note', 'text'],
  ['us', 'timestamptz'],
  ['tags', '_text'],
]);

const ROWS: Row[] = [
  {
    ms: Date.UTC(1900, 0, 1),
    price: -0.01,
    volume: '0',
    count: 0,
    note: null,
    us: Date.UTC(1900, 0, 1) * 1000 - 1,
    tags: null,
  },
  {
    ms: Date.UTC(1969, 11, 31, 23, 59),
    price: 5e-324,
    volume: '9007199254740993',
    count: null,
    note: 'tab\there',
    us: -1,
    tags: [],
  },
  {
    ms: Date.UTC(2000, 0, 1),
    price: 1.7976931348623157e308,
    volume: '9223372036854775807',
    count: 2_147_483_647,
    note: 'back\\slash \\N',
    us: Date.UTC(2000, 0, 1) * 1000,
    tags: ['@', 'F', 'T'],
  },
  {
    ms: Date.UTC(2025, 5, 21, 10, 0, 0, 123),
    price: 101.25,
    volume: '123456789012345',
    count: 7,
    note: 'new\nline\r ünïcødé €',
    us: Date.UTC(2025, 5, 21, 10, 0, 0, 123) * 1000 + 456,
    tags: ['with "quote"', 'back\\slash', 'comma,', 'space here', 'NULL', 'tab\t', '{brace}', ''],
  },
  {
    ms: Date.UTC(2199, 11, 31, 23, 59),
    price: 0.1 + 0.2,
    volume: '999999999999999',
    count: -5,
    note: '',
    us: Date.UTC(2199, 11, 31, 23, 59, 59, 999) * 1000 + 999,
    tags: ['ünï €'],
  },
];

describe('CopyEncoder on postgresql', () => {
  let db: TestDatabase;
  let client: Client;

  beforeAll(async () => {
    db = await createTestDatabase('postgresql');
    client = new Client({ connectionString: db.settings.databaseUrl });
    await client.connect();
    for (const table of ['t_binary', 't_text']) {
      await client.query(
        `CREATE TABLE ${table} (at timestamptz, name varchar(20), price float8, volume int8, count int4, note text,
                                us timestamptz, tags text[])`,
      );
    }
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  async function copyInto(table: string, encoder: CopyEncoder<Row, string>): Promise<void> {
    const data = encoder.encode([
      { group: 'A', rows: ROWS.slice(0, 2) },
      { group: 'B.ü', rows: ROWS.slice(2) },
    ]);
    await pipeline(Readable.from(data), client.query(copyFrom(encoder.statement(table))));
  }

  async function read(table: string) {
    const { rows } = await client.query<Record<string, unknown>>(
      `SELECT (extract(epoch FROM at) * 1000)::float8 AS ms, name, price, volume::text AS volume, count, note,
              (extract(epoch FROM us) * 1000000)::float8 AS us, tags
         FROM ${table} ORDER BY at`,
    );
    return rows;
  }

  it('should choose binary when every column type has a binary writer, text otherwise', () => {
    expect(new CopyEncoder(COLUMNS, TYPES).format).toBe('binary');
    expect(new CopyEncoder(COLUMNS, TYPES).statement('t')).toMatch(/FROM STDIN \(FORMAT binary\)$/);
    const numericPrice = new Map([...TYPES, ['price', 'numeric']]);
    expect(new CopyEncoder(COLUMNS, numericPrice).format).toBe('binary');
    const numericVolume = new Map([...TYPES, ['volume', 'numeric']]);
    // A decimal string (volume) binary-encodes as numeric too.
    expect(new CopyEncoder(COLUMNS, numericVolume).format).toBe('binary');
    const floatVolume = new Map([...TYPES, ['volume', 'float8']]);
    expect(new CopyEncoder(COLUMNS, floatVolume).format).toBe('text');
    expect(new CopyEncoder(COLUMNS, floatVolume).statement('t')).toMatch(/FROM STDIN$/);
    // A list binary-encodes only as text[]; varchar[] goes as text.
    expect(new CopyEncoder(COLUMNS, new Map([...TYPES, ['tags', '_varchar']])).format).toBe('text');
    expect(new CopyEncoder(COLUMNS, new Map()).format).toBe('text');
  });

  it.each([
    ['an int4 beyond 2^31-1', { count: 2 ** 40 }],
    ['a fractional int4', { count: 1.5 }],
    ['an int8 beyond 2^63-1', { volume: '9223372036854775808' }],
    ['an empty int8', { volume: '' }],
  ])('should refuse %s in binary rather than wrap it', (_label, change) => {
    const encoder = new CopyEncoder(COLUMNS, TYPES);
    const data = encoder.encode([{ group: 'A', rows: [{ ...ROWS[0], ...change }] }]);
    expect(() => [...data]).toThrow(RangeError);
    // Read again (a retry): the same refusal, never an empty or cut batch.
    expect(() => [...data]).toThrow(RangeError);
  });

  /** `count` rows of ROWS[3]'s shape, one a millisecond apart. */
  function manyRows(count: number): Row[] {
    return Array.from({ length: count }, (_v, i) => ({
      ...ROWS[3],
      ms: ROWS[3].ms + i,
      count: i,
    }));
  }

  it.each([
    ['binary', TYPES],
    ['text', new Map<string, string>()],
  ])(
    'should send a batch of several chunks (%s) whole, and the same buffers when read again',
    async (format, types) => {
      const rows = manyRows(2_501);
      const encoder = new CopyEncoder(COLUMNS, types);
      const data = encoder.encode([
        { group: 'A', rows: rows.slice(0, 1_200) },
        { group: 'B', rows: rows.slice(1_200) },
      ]);
      const table = `chunks_${format}`;
      await client.query(`CREATE TABLE ${table} (LIKE t_binary)`);
      await pipeline(Readable.from(data), client.query(copyFrom(encoder.statement(table))));
      const { rows: stored } = await client.query<{ n: number; names: string; counts: string }>(
        `SELECT count(*)::int AS n, string_agg(DISTINCT name, ',') AS names,
                count(DISTINCT count)::text || ':' || min(count) || ':' || max(count) AS counts
           FROM ${table}`,
      );
      expect(stored).toEqual([{ n: 2_501, names: 'A,B', counts: '2501:0:2500' }]);
      const first = [...data];
      // 1,000 rows a chunk: three chunks of rows, and binary's trailer in the last.
      expect(first).toHaveLength(3);
      const again = [...data];
      again.forEach((chunk, i) => expect(chunk).toBe(first[i]));
    },
  );

  it('should store nothing when a value past the first chunk cannot be encoded, and leave the session usable', async () => {
    const rows = manyRows(2_500);
    rows[2_200] = { ...rows[2_200], count: 2 ** 40 };
    const encoder = new CopyEncoder(COLUMNS, TYPES);
    await client.query('CREATE TABLE chunks_refused (LIKE t_binary)');
    const data = encoder.encode([{ group: 'A', rows }]);
    await expect(
      pipeline(Readable.from(data), client.query(copyFrom(encoder.statement('chunks_refused')))),
    ).rejects.toThrow(RangeError);
    const { rows: counted } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM chunks_refused',
    );
    expect(counted).toEqual([{ n: 0 }]);
  });

  it('should store the same values from the binary and the text encoding, edge values exactly', async () => {
    await copyInto('t_binary', new CopyEncoder(COLUMNS, TYPES));
    await copyInto('t_text', new CopyEncoder(COLUMNS, new Map()));

    const binary = await read('t_binary');
    const expected = ROWS.map((r, i) => ({
      ms: r.ms,
      name: i < 2 ? 'A' : 'B.ü',
      price: r.price,
      volume: r.volume,
      count: r.count,
      note: r.note,
      us: r.us,
      tags: r.tags,
    }));
    expect(binary).toEqual(expected);
    await expect(read('t_text')).resolves.toEqual(expected);
  });

  it('should write numeric in binary as exactly the decimal a text COPY of String(x) stores', async () => {
    interface N {
      x: number;
      n: number | null;
    }
    const columns: CopyColumn<N, null>[] = [
      { name: 'x', kind: 'number', value: (r) => r.x },
      { name: 'n', kind: 'integer', value: (r) => r.n },
    ];
    const types = new Map([
      ['x', 'numeric'],
      ['n', 'numeric'],
    ]);
    const edges = [
      0,
      -0,
      1,
      -1,
      5e-324,
      -5e-324,
      1e21,
      -1e21,
      1.7976931348623157e308,
      0.1 + 0.2,
      100,
      10_000,
      12_345_678,
      0.0001,
      0.001,
      1e-7,
      1.5e-7,
      12_345.6789,
      99_999.99,
      100_000.01,
      123_456_789.12,
      -0.01,
      2 ** 53,
      2 ** 53 + 2,
      1e16,
      123e-20,
    ];
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const rows: N[] = edges.map((x, i) => ({ x, n: i % 3 === 0 ? null : Math.round(x) || i }));
    for (let i = 0; i < 2_000; i++) {
      const x = (random() - 0.5) * 10 ** Math.floor(random() * 30 - 12);
      rows.push({ x, n: Math.round(random() * 1e12) });
      rows.push({ x: Math.round(x * 100) / 100, n: null });
    }
    const tables = ['n_binary', 'n_text'];
    for (const table of tables) {
      await client.query(`CREATE TABLE ${table} (i serial, x numeric, n numeric)`);
    }
    const binary = new CopyEncoder(columns, types);
    expect(binary.format).toBe('binary');
    const text = new CopyEncoder(columns, new Map());
    for (const [table, encoder] of [
      ['n_binary', binary],
      ['n_text', text],
    ] as const) {
      const data = encoder.encode([{ group: null, rows }]);
      await pipeline(Readable.from(data), client.query(copyFrom(encoder.statement(table))));
    }
    const stored = async (table: string) =>
      (
        await client.query<{ x: string; n: string | null }>(
          `SELECT x::text AS x, n::text AS n FROM ${table} ORDER BY i`,
        )
      ).rows;
    const fromBinary = await stored('n_binary');
    expect(fromBinary).toEqual(await stored('n_text'));
    // And each is the number itself: text -> float8 gives back x.
    fromBinary.forEach((r, i) => expect(Number(r.x)).toBe(rows[i].x === 0 ? 0 : rows[i].x));
  });

  it('should write decimal strings to numeric in binary exactly as a text COPY stores them', async () => {
    const decimals = [
      '0',
      '1',
      '1.5',
      '0.00012345',
      '0.000000000000000001',
      '10000',
      '0.0001',
      '100000000',
      '9007199254740993',
      '9223372036854775807',
      '9223372036854775806.999999999999999999',
      '123456789012345678901234.000000000000000001',
    ];
    const columns: CopyColumn<string, null>[] = [{ name: 'v', kind: 'decimal', value: (r) => r }];
    const binary = new CopyEncoder(columns, new Map([['v', 'numeric']]));
    expect(binary.format).toBe('binary');
    for (const [table, encoder] of [
      ['d_binary', binary],
      ['d_text', new CopyEncoder(columns, new Map())],
    ] as const) {
      await client.query(`CREATE TABLE ${table} (i serial, v numeric)`);
      const data = encoder.encode([{ group: null, rows: decimals }]);
      await pipeline(Readable.from(data), client.query(copyFrom(encoder.statement(table))));
    }
    const stored = async (table: string) =>
      (await client.query<{ v: string }>(`SELECT v::text AS v FROM ${table} ORDER BY i`)).rows.map(
        (r) => r.v,
      );
    expect(await stored('d_binary')).toEqual(decimals);
    expect(await stored('d_text')).toEqual(decimals);
  });
});
