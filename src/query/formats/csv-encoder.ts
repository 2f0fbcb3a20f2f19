import { Column, decimalText, isoOfMicros, RowValues } from './columns';

/** RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled. */
function quoted(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function textCell(value: unknown): string {
  return quoted(typeof value === 'string' ? value : JSON.stringify(value));
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
    case 'timestamp':
      return typeof value === 'number' ? isoOfMicros(value) : textCell(value);
    case 'text':
      return textCell(value);
    default:
      return typeof value === 'number' ? String(value) : JSON.stringify(value);
  }
}

/** The header line of the columns, CRLF-terminated (RFC 4180). */
export function csvHeader(columns: readonly Column[]): string {
  return `${columns.map((c) => quoted(c.name)).join(',')}\r\n`;
}

/** Lines of `rows`, one per row. */
export function csvLines(columns: readonly Column[], rows: RowValues): string {
  const values = columns.map((column) => rows.valuesOf(column.name));
  let out = '';
  for (let row = 0; row < rows.length; row++) {
    let line = '';
    columns.forEach((column, i) => {
      line += (i === 0 ? '' : ',') + cell(column, values[i]?.[row]);
    });
    out += `${line}\r\n`;
  }
  return out;
}
