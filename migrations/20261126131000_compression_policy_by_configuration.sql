-- The compression level of each series (storage_configurations) decides when
-- its chunks are compressed: the service's CompressionPolicyJob
-- (src/configuration/compression-policy.job.ts) does it. TimescaleDB's single
-- policy would compress every chunk after 24 hours whatever the levels say
-- (a NONE series included), so it goes. The check keeps the job from meeting a
-- level it cannot map.

-- migrate:up
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    PERFORM remove_compression_policy('market_data_ts', if_exists => true);
  END IF;
END
$$;

ALTER TABLE storage_configurations
  ADD CONSTRAINT storage_configurations_compression_level_check
  CHECK (compression_level IN ('none', 'low', 'medium', 'high'));

-- migrate:down
ALTER TABLE storage_configurations
  DROP CONSTRAINT IF EXISTS storage_configurations_compression_level_check;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    PERFORM add_compression_policy('market_data_ts', INTERVAL '24 hours', if_not_exists => true);
  END IF;
END
$$;
