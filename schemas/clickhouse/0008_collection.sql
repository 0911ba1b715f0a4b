-- Collection: where CloudTrail files come from (sources), what became of every file (files),
-- how far the fetchers got in each day folder (checkpoints), each source's scanning state
-- (source_state), and what CloudTrail's hourly digests say was delivered (digest_files).
-- Rows are never updated in place: a change is a new row with a higher version (nanoseconds
-- since the epoch) and readers take the latest with FINAL.

-- A source: a bucket (and prefix) CloudTrail writes to, how to reach it, how it is noticed.
CREATE TABLE IF NOT EXISTS {database}.sources (
    id           String,  -- stable: the name in --sources, 'trail:<ARN>' when discovered, 'default' for --s3-bucket
    name         String,
    origin       String,  -- flags | file | discovery | console
    bucket       String,
    prefix       String,  -- the trail's S3 key prefix, '' for none
    region       String,  -- the bucket's region
    role_arn     String,  -- assumed (STS) to read the bucket and queue, '' for the fetcher's own credentials
    external_id  String,
    environment  String,  -- stamped on every record read
    queue        String,  -- SQS queue name or URL notified of new files; '' when the source is only scanned
    enabled      UInt8,
    trail_arn    String,  -- the discovered trail, '' otherwise
    organization UInt8,   -- an organization trail: one source, many member accounts
    deleted      UInt8,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- The ledger: one row per file read (a re-read replaces it).
CREATE TABLE IF NOT EXISTS {database}.files (
    source       String,
    bucket       String,
    key          String,
    kind         String,  -- log | digest | insight | other
    account_id   String,
    aws_region   String,
    day          Date,    -- the day folder of the key
    records      UInt32,  -- produced; for a digest, the log files it lists
    dead_letters UInt32,  -- records sent to the dead-letter topic
    bytes        UInt64,  -- of the object as stored
    sha256       String,  -- hex, of the object as stored: what digests list
    first_event  DateTime,
    last_event   DateTime,
    read_at      DateTime,
    path         String,  -- notification | scan | backfill | import | heal
    outcome      String,  -- read | partial (some records dead-lettered) | skipped | failed
    reason       String,  -- why skipped or failed
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (bucket, key);

-- How far backfill and scanning got in one day folder of one source.
CREATE TABLE IF NOT EXISTS {database}.checkpoints (
    source      String,
    prefix      String,  -- the day folder: [prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/
    kind        String,  -- backfill | scan
    account_id  String,
    aws_region  String,
    day         Date,
    after       String,  -- every key up to and including this one is handled
    files_total UInt32,  -- listed (backfill)
    bytes_total UInt64,
    files       UInt32,  -- handled
    records     UInt64,
    bytes       UInt64,
    done        UInt8,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (source, kind, prefix);

-- A source's collection state.
CREATE TABLE IF NOT EXISTS {database}.source_state (
    source         String,
    backfill       String,    -- pending | listing | reading | done | off
    backfill_since DateTime,
    scan_interval  UInt32,    -- seconds; doubles up to a day while scans find nothing
    last_scan      DateTime,
    next_scan      DateTime,
    last_new       DateTime,  -- when a scan last found new files
    last_error     String,
    error_at       DateTime,
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY source;

-- Every log file an hourly digest lists as delivered.
CREATE TABLE IF NOT EXISTS {database}.digest_files (
    source       String,
    digest_key   String,
    bucket       String,
    key          String,
    account_id   String,
    aws_region   String,
    hour         DateTime,  -- the digest's start
    sha256       String,
    oldest_event DateTime,
    newest_event DateTime,
    read_at      DateTime
) ENGINE = ReplacingMergeTree(read_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (bucket, key);
