import { loadSettings } from '../settings/settings';
import { DatabaseUnavailableError, NotFoundError } from '../common/errors';
import { CompressionLevel, SeriesKey, TimeFrame } from '../common/market-data.types';
import { StorageConfigurationEntity } from '../database/entities';
import { ConfigurationRepository } from '../repositories/configuration.repository';
import { ConfigurationService } from './configuration.service';

const SERIES: SeriesKey = { instrumentId: 'AAPL', timeframe: TimeFrame.ONE_MINUTE };
const CREATED = new Date('2025-06-21T10:00:00.123Z');
const UPDATED = new Date('2025-06-21T10:05:00.456Z');

function entity(overrides: Partial<StorageConfigurationEntity> = {}): StorageConfigurationEntity {
  return Object.assign(new StorageConfigurationEntity(), {
    id: '6f1c2b1e-8d4a-4c1e-9b7a-2f3d4e5f6a7b',
    instrumentId: 'AAPL',
    timeframe: 'ONE_MINUTE',
    compressionLevel: 'medium',
    retentionDays: 730,
    indexingStrategy: 'time_instrument',
    createdAt: CREATED,
    updatedAt: UPDATED,
    ...overrides,
  });
}

/** Every method rejects until the test says what it answers. */
function repositoryMock(): jest.Mocked<ConfigurationRepository> {
  const unexpected = (name: string) =>
    jest.fn(() => Promise.reject(new Error(`unexpected call to ${name}`)));
  return {
    saveCompressionLevel: unexpected('saveCompressionLevel'),
    replace: unexpected('replace'),
    findBySeries: unexpected('findBySeries'),
    findAll: unexpected('findAll'),
    deleteBySeries: unexpected('deleteBySeries'),
  } as unknown as jest.Mocked<ConfigurationRepository>;
}

describe('ConfigurationService', () => {
  let repository: jest.Mocked<ConfigurationRepository>;
  let service: ConfigurationService;

  beforeEach(() => {
    repository = repositoryMock();
    service = new ConfigurationService(repository, loadSettings({}));
  });

  describe('recordCompressionLevel', () => {
    it.each([
      [CompressionLevel.NONE, 'none'],
      [CompressionLevel.HIGH, 'high'],
    ])('should store %s lower-case as %s', async (level, stored) => {
      repository.saveCompressionLevel.mockResolvedValue(undefined);

      await service.recordCompressionLevel(SERIES, level);

      // A new row takes the server's default retention.
      expect(repository.saveCompressionLevel.mock.calls).toEqual([[SERIES, stored, 730]]);
    });

    it('should turn a lost connection into DatabaseUnavailableError', async () => {
      repository.saveCompressionLevel.mockRejectedValue(
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      );

      await expect(
        service.recordCompressionLevel(SERIES, CompressionLevel.LOW),
      ).rejects.toBeInstanceOf(DatabaseUnavailableError);
    });
  });

  describe('get', () => {
    it('should answer snake_case with the level as its enum name and UTC times', async () => {
      repository.findBySeries.mockResolvedValue(entity({ compressionLevel: 'high' }));

      await expect(service.get(SERIES)).resolves.toEqual({
        instrument_id: 'AAPL',
        timeframe: 'ONE_MINUTE',
        compression_level: 'HIGH',
        retention_days: 730,
        indexing_strategy: 'time_instrument',
        created_at: '2025-06-21T10:00:00.123Z',
        updated_at: '2025-06-21T10:05:00.456Z',
      });
    });

    it('should throw NotFoundError naming the series and the defaults when none is stored', async () => {
      repository.findBySeries.mockResolvedValue(null);

      const error = await service.get(SERIES).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe(
        'No configuration for AAPL ONE_MINUTE; the defaults apply (compression_level MEDIUM, retention_days 730)',
      );
    });
  });

  describe('list', () => {
    it('should map every stored configuration in the repository order', async () => {
      repository.findAll.mockResolvedValue([
        entity({ instrumentId: 'AAPL', compressionLevel: 'none' }),
        entity({ instrumentId: 'MSFT', timeframe: 'ONE_DAY', compressionLevel: 'low' }),
      ]);

      const list = await service.list();

      expect(list.map((c) => [c.instrument_id, c.timeframe, c.compression_level])).toEqual([
        ['AAPL', 'ONE_MINUTE', 'NONE'],
        ['MSFT', 'ONE_DAY', 'LOW'],
      ]);
    });

    it('should answer an empty list when nothing is configured', async () => {
      repository.findAll.mockResolvedValue([]);

      await expect(service.list()).resolves.toEqual([]);
    });
  });

  describe('put', () => {
    it('should store the level lower-case and fill omitted fields with their defaults', async () => {
      repository.replace.mockResolvedValue({
        configuration: entity({ compressionLevel: 'low' }),
        created: true,
      });

      const result = await service.put(SERIES, { compression_level: CompressionLevel.LOW });

      expect(repository.replace.mock.calls).toEqual([
        [
          SERIES,
          { compressionLevel: 'low', retentionDays: 730, indexingStrategy: 'time_instrument' },
        ],
      ]);
      expect(result.created).toBe(true);
      expect(result.configuration.compression_level).toBe('LOW');
    });

    it('should pass the given retention and strategy and say when it replaced', async () => {
      repository.replace.mockResolvedValue({
        configuration: entity({ compressionLevel: 'none', retentionDays: 30 }),
        created: false,
      });

      const result = await service.put(SERIES, {
        compression_level: CompressionLevel.NONE,
        retention_days: 30,
        indexing_strategy: 'time_instrument',
      });

      expect(repository.replace.mock.calls[0]?.[1]).toEqual({
        compressionLevel: 'none',
        retentionDays: 30,
        indexingStrategy: 'time_instrument',
      });
      expect(result).toMatchObject({
        created: false,
        configuration: { compression_level: 'NONE', retention_days: 30 },
      });
    });
  });

  describe('delete', () => {
    it('should answer the deleted configuration', async () => {
      repository.deleteBySeries.mockResolvedValue(entity({ compressionLevel: 'high' }));

      await expect(service.delete(SERIES)).resolves.toMatchObject({
        instrument_id: 'AAPL',
        compression_level: 'HIGH',
      });
    });

    it('should throw NotFoundError when there was none', async () => {
      repository.deleteBySeries.mockResolvedValue(null);

      await expect(service.delete(SERIES)).rejects.toBeInstanceOf(NotFoundError);
    });
  });
});
