-- The console's security: the credentials it accepts (sign-in sessions and API tokens) and
-- its audit log. A credential's secret is never stored: rows hold its SHA-256. Rows are never
-- updated in place: a revocation is a new row with a higher version (nanoseconds since the
-- epoch) and readers take the latest with FINAL.

-- A sign-in session (kind 'session') or an API token (kind 'token').
CREATE TABLE IF NOT EXISTS {database}.credentials (
    id          String,   -- public: what the tokens API lists and revokes by
    hash        String,   -- hex SHA-256 of the secret the client presents
    kind        String,   -- session | token
    name        String,   -- a token's label
    user        String,   -- who signed in, or who created the token
    role        String,   -- viewer | admin
    method      String,   -- how: password | oidc | token
    created_at  DateTime,
    expires_at  DateTime, -- 0 (1970) for a token that does not expire
    revoked     UInt8,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY hash;

-- Who signed in and who changed what.
CREATE TABLE IF NOT EXISTS {database}.audit_log (
    time     DateTime,
    nanos    UInt64,   -- the time in nanoseconds since the epoch: the order of entries within a second
    user     String,   -- '' for a failed sign-in's unknown user; 'anonymous' on an open console
    role     String,
    action   String,   -- login | login-failed | login-locked | logout | admin-users-upload | source-add | ...
    target   String,   -- what it acted on: a source, a token, a user name
    outcome  String,   -- ok | denied | failed
    remote   String,   -- the client's address
    detail   String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, nanos);
