import type { ClientBase, PoolClient } from 'pg';
import type { JoinSecondSession } from '../read-routing/shared-snapshot';
import type { Page } from './bars.reader';

/**
 * A long page of stored bars read in two halves at once, each on its own
 * PostgreSQL backend (so on two cores): the page's SQL is otherwise one
 * core's work. Measured on 43,200 bars (30 days), the statements alone:
 * the columns page 87 -> 64 ms on plain PostgreSQL and 71 -> 40 ms on the
 * TimescaleDB server, the JSON page 163-169 -> 79-86 ms on plain
 * PostgreSQL (bench/notes/peers.md).
 */

/** A page this long or longer is worth two halves; a shorter one is read whole on one session. */
export const SPLIT_PAGE_ROWS = 20_000;

/** What runs SQL: a pooled session, or a pool. */
export type Queryable = Pick<ClientBase, 'query'>;

/** One read of a page (or a half of one): its row count, and whether no row of its condition lies after it. */
export interface PagePart {
  readonly count: number;
  readonly nothingAfter: boolean;
}

/** Reads the page of `where` ($1..$n of `params`) on `session`. */
export type PagePartReader<P extends PagePart> = (
  session: Queryable,
  where: string,
  params: readonly string[],
  page: Page,
) => Promise<P>;

/** The instant $n µs after the Unix epoch, exactly (no float seconds in between). */
export function instantOfMicrosSql(n: number): string {
  return `('epoch'::timestamptz + $${n}::bigint * interval '1 microsecond')`;
}

/**
 * How a page is halved (worthHalving): at `splitMicros` (µs since the epoch,
 * the middle of its range) when the whole range fits in the page, so each
 * half is simply the rows on its side; otherwise at the page's middle row,
 * which one more query finds (7-10 ms on 30 days of minutes).
 */
export interface Halving {
  readonly splitMicros?: string;
}

/**
 * The page of `where` (one worthHalving) as parts in time order: one, or
 * two halves on two sessions of one snapshot when a second joins
 * (withSharedSnapshot). The first statement on the first session fixes the
 * snapshot the second imports; a page with no middle row takes no second
 * session.
 */
export async function readInHalves<P extends PagePart>(
  first: PoolClient,
  joinSecond: JoinSecondSession | undefined,
  where: string,
  params: readonly string[],
  page: Page,
  readPart: PagePartReader<P>,
  halving: Halving = {},
): Promise<P[]> {
  const whole = () => readPart(first, where, params, page).then((part) => [part]);
  if (!joinSecond) return whole();
  const { splitMicros } = halving;
  if (splitMicros !== undefined) {
    return joinSecond(async (second) => {
      if (!second) return whole();
      const halves = await readHalves(
        first,
        second,
        where,
        params,
        splitMicros,
        [page, page],
        readPart,
      );
      // The range's rows were to fit in the page; should more be stored, read it as asked.
      if (halves[0].count + halves[1].count > page.limit) return whole();
      return withoutEmpty(halves);
    });
  }
  const half = Math.floor(page.limit / 2);
  const middle = await rowInstantMicros(first, where, params, page.offset + half);
  if (middle === undefined) return whole();
  return joinSecond(async (second) => {
    if (!second) return whole();
    return readHalves(
      first,
      second,
      where,
      params,
      middle,
      [
        { limit: half, offset: page.offset },
        { limit: page.limit - half, offset: 0 },
      ],
      readPart,
    );
  });
}

/** The rows of `where` before `splitMicros` on `first` and from it on `second`, at once. */
function readHalves<P extends PagePart>(
  first: Queryable,
  second: Queryable,
  where: string,
  params: readonly string[],
  splitMicros: string,
  [before, after]: readonly [Page, Page],
  readPart: PagePartReader<P>,
): Promise<[P, P]> {
  const at = [...params, splitMicros];
  const split = instantOfMicrosSql(at.length);
  return Promise.all([
    readPart(first, `${where} AND t."timestamp" < ${split}`, at, before),
    readPart(second, `${where} AND t."timestamp" >= ${split}`, at, after),
  ]);
}

/** The parts that hold rows (at least one part): an empty half tells nothing of what lies after. */
function withoutEmpty<P extends PagePart>(parts: readonly P[]): P[] {
  const held = parts.filter((part) => part.count > 0);
  return held.length > 0 ? held : [parts[parts.length - 1]!];
}

/** The parts' rows in all, and whether nothing of the condition lies after the last. */
export function partsSummary(parts: readonly PagePart[]): PagePart {
  return {
    count: parts.reduce((sum, part) => sum + part.count, 0),
    nothingAfter: parts[parts.length - 1]!.nothingAfter,
  };
}

/** µs since the epoch of the row of `where` after `offset` others, in time order; undefined: none. */
async function rowInstantMicros(
  session: Queryable,
  where: string,
  params: readonly string[],
  offset: number,
): Promise<string | undefined> {
  const { rows } = await session.query<{ micros: string }>(
    `SELECT (extract(epoch FROM t."timestamp") * 1000000)::bigint AS micros FROM market_data_ts t
      WHERE ${where} ORDER BY t."timestamp" OFFSET $${params.length + 1} LIMIT 1`,
    [...params, offset],
  );
  return rows[0]?.micros;
}

/** Whether a page pays for two halves: it may hold SPLIT_PAGE_ROWS rows (`rowsAtMost` in its range, before its offset). */
export function worthHalving(page: Page, rowsAtMost: number): boolean {
  return Math.min(page.limit, rowsAtMost - page.offset) >= SPLIT_PAGE_ROWS;
}

/**
 * How to halve a page of `range` that holds `rowsAtMost` rows at most: at
 * the range's middle instant when the page holds the whole range (from
 * offset 0, a limit no smaller), else at its middle row.
 */
export function halvingOf(
  page: Page,
  range: { readonly fromMs: number; readonly toMs: number },
  rowsAtMost: number,
): Halving {
  if (page.offset > 0 || rowsAtMost > page.limit) return {};
  return { splitMicros: String(Math.floor((range.fromMs + range.toMs) / 2) * 1000) };
}
