-- Initial schema. Runs on ClickHouse 18.16 and on current releases.
-- ReplacingMergeTree keyed by the CloudTrail eventID (resp. detection_id): a redelivered
-- message is a duplicate row until the next merge, so dashboard queries read with FINAL.
CREATE TABLE IF NOT EXISTS {database}.events (
    event_id      String,
    event_time    DateTime,
    event_version String,
    event_source  String,
    event_name    String,
    event_type    String,
    aws_region    String,
    account_id    String,
    source_ip     String,
    user_agent    String,
    user_type     String,
    user_name     String,
    user_arn      String,
    error_code    String,
    error_message String,
    outcome       String,
    mfa_used      UInt8,
    action        String,
    environment   String,
    raw           String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (account_id, event_time, event_id);

CREATE TABLE IF NOT EXISTS {database}.detections (
    detection_id  String,
    rule_id       String,
    severity      String,
    title         String,
    account_id    String,
    environment   String,
    resource_type String,
    resource_name String,
    event_ids     Array(String),
    actors        Array(String),
    first_time    DateTime,
    last_time     DateTime,
    detected_at   DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(first_time)
ORDER BY (account_id, rule_id, detection_id);
