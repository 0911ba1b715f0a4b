-- event_id_derived: the record had no eventID and event_id was derived from its bytes.
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS (it is a syntax error there), so the
-- migrator counts "column already exists" as applied.
ALTER TABLE {database}.events ADD COLUMN event_id_derived UInt8 DEFAULT 0;
