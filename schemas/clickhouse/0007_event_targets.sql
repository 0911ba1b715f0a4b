-- What an IAM call acts on besides its resource: the user whose credentials, policies or
-- groups change, the group of a membership change, the new name of a rename.
ALTER TABLE {database}.events ADD COLUMN target_user String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN target_group String DEFAULT '';
ALTER TABLE {database}.events ADD COLUMN new_name String DEFAULT '';
