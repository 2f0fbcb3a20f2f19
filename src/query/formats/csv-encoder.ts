import { Column, decimalText, Point } from './columns';

/** RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled. */
function quoted(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A cell as the JSON answer gives the value: timestamps as their ISO text,
 * numbers in JavaScript's shortest round-trip form, volume as its exact
 * decimal text, booleans true/false, conditions as their JSON array text; a
 * null (or an absent filled flag's false) as an empty cell.
 */
function cell(column: Column, value: unknown): string {
  if (column.kind === 'bool') return value === true ? 'true' : 'false';
  if (value === null || value === undefined) return '';
  switch (column.kind) {
    case 'decimal':
      return decimalText(value as number | string);
    case 'textList':
      return quoted(JSON.stringify(value));
    case 'text':
    case 'timestamp':
      return quoted(typeof value === 'string' ? value : JSON.stringify(value));
    default:
      return typeof value === 'number' ? String(value) : JSON.stringify(value);
  }
}

/** The header line of the columns, CRLF-terminated (RFC 4180). */
export function csvHeader(columns: readonly Column[]): string {
  return `${columns.map((c) => quoted(c.name)).join(',')}\r\n`;
}

/** Lines of `points`, one per point; `constant` columns (instrument_id) are taken from it instead. */
export function csvLines(
  columns: readonly Column[],
  points: readonly Point[],
  constant: Point = {},
): string {
  let out = '';
  for (const point of points) {
    let line = '';
    columns.forEach((column, i) => {
      const value = column.name in constant ? constant[column.name] : point[column.name];
      line += (i === 0 ? '' : ',') + cell(column, value);
    });
    out += `${line}\r\n`;
  }
  return out;
}
