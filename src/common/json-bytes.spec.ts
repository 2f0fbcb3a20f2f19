import { jsonBytes } from './json-bytes';

describe('jsonBytes', () => {
  it('should write the pieces in order as UTF-8, multi-byte characters whole', () => {
    const pieces = ['{"instrument_id":', JSON.stringify('ÄÖ€𝄞'), ',"data_points":', '[]', '}'];
    const bytes = jsonBytes(pieces);
    expect(bytes.toString('utf8')).toBe(pieces.join(''));
    expect(bytes.length).toBe(Buffer.byteLength(pieces.join('')));
    expect(JSON.parse(bytes.toString('utf8'))).toEqual({ instrument_id: 'ÄÖ€𝄞', data_points: [] });
  });

  it('should give an empty buffer for no pieces or empty ones', () => {
    expect(jsonBytes([]).length).toBe(0);
    expect(jsonBytes(['', '']).length).toBe(0);
  });
});
