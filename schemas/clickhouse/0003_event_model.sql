-- The complete event model: identity, sign-in result, classification, resources, geolocation
-- and the admin flag. One column a statement: ClickHouse 18.16 has no ADD COLUMN IF NOT
-- EXISTS, so the migrator counts "column already exists" as applied.
ALTER TABLE {database}.events ADD COLUMN role_name String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN session_name String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN principal_id String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN access_key_id String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN actor_account_id String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN invoked_by String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN session_mfa UInt8 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN user_name_hidden UInt8 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN login_result String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN event_category String DEFAULT 'other';
ALTER TABLE {database}.events ADD COLUMN is_read_only UInt8 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN is_network_security UInt8 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN is_public_exposure UInt8 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN resource_type String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN resource_names Array(String);
ALTER TABLE {database}.events ADD COLUMN resource_arns Array(String);
ALTER TABLE {database}.events ADD COLUMN country_code String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN country_name String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN city String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN latitude Float64 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN longitude Float64 DEFAULT 0;
ALTER TABLE {database}.events ADD COLUMN is_admin UInt8 DEFAULT 0;
