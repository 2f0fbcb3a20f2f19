import { InvalidRequestError } from '../common/errors';
import { barSpecText, parseInformationBar } from './information-bar';

describe('parseInformationBar', () => {
  it.each([
    ['volume:10000', 'volume:10000'],
    ['volume:0.5', 'volume:0.5'],
    ['dollar:001250.2500', 'dollar:1250.25'],
    ['tick:02.000', 'tick:2'],
    [' tick:7 ', 'tick:7'],
  ])('should read %s as %s', (spec, text) => {
    expect(barSpecText(parseInformationBar(spec))).toBe(text);
  });

  it.each([
    'foo:1',
    'volume',
    'volume:',
    'volume:0',
    'dollar:0.0',
    'volume:-1',
    'volume:1e6',
    'tick:1.5',
    'volume:1234567890123456789',
    'volume:1.1234567890123',
  ])('should refuse %s naming bar', (spec) => {
    expect(() => parseInformationBar(spec)).toThrow(InvalidRequestError);
    try {
      parseInformationBar(spec);
    } catch (error) {
      expect(error).toMatchObject({ field: 'bar' });
    }
  });
});
