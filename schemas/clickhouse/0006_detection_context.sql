-- A detection's explanation: the rule's description, ATT&CK tags, where the rule comes from
-- and the figures behind the finding (a JSON object).
ALTER TABLE {database}.detections ADD COLUMN description String DEFAULT '';
ALTER TABLE {database}.detections ADD COLUMN tags Array(String) DEFAULT [];
ALTER TABLE {database}.detections ADD COLUMN source String DEFAULT 'builtin';
ALTER TABLE {database}.detections ADD COLUMN context String DEFAULT '{}';
