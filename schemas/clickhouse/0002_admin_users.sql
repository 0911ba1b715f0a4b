-- The administrative users uploaded through the console (curl -T admin_users.csv URL). Each
-- upload is one upload_id; the latest upload is the list in force.
CREATE TABLE IF NOT EXISTS {database}.admin_users (
    upload_id   UInt64,
    user_name   String,
    uploaded_at DateTime
) ENGINE = MergeTree()
ORDER BY (upload_id, user_name);
