-- network_rule: the security-group or network-ACL rule a call sets or removes, so that the
-- console's network panels read a short column instead of parsing raw.
ALTER TABLE {database}.events ADD COLUMN network_rule String DEFAULT '';
