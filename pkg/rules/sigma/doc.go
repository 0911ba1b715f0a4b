// Package sigma runs Sigma rules (the Sigma specification, version 2) natively on the
// stream: Load reads a folder of rule files and returns, for every rule whose logsource is
// AWS CloudTrail (product aws, service cloudtrail), a rules.Rule that the detector runs with
// the built-in ones. Nothing is converted into another query language.
//
// A rule is matched against the raw CloudTrail record with the record's own field names:
// a dotted path goes into nested objects (userIdentity.sessionContext.sessionIssuer.type),
// and an array on the way, or at the end, is searched element by element; a field whose
// value is an object matches when one of its nested values does (requestParameters|contains:
// Suspended). As the specification says: strings compare case-insensitively, * and ? are
// wildcards and \ escapes them, the values of a list are alternatives and the fields of a map
// all hold, null means the field is absent (or null), and numbers and booleans compare by
// their string forms. A selection that is a list of strings is a keyword search: each is
// looked for anywhere in every value of the record. The modifiers are contains, startswith,
// endswith, all, re (with i, m and s), cidr (IPv4 and IPv6), exists, fieldref (alone or with
// contains, startswith or endswith), base64, base64offset, utf16le, utf16be, utf16, wide,
// windash, expand (placeholders from Options.Placeholders), cased, neq, lt, lte, gt and gte.
// Regular expressions are Go's (RE2): a rule whose expression RE2 lacks (lookarounds,
// backreferences) is reported, not loaded. The condition has and, or, not, parentheses,
// "1 of", "any of", "all of" and "N of" a pattern of selection names or them (the selections
// not starting with _), and a list of conditions is their or.
//
// Everything is compiled once, at load: the patterns into matchers, the regular
// expressions (each with a literal it needs, checked before the expression runs), the
// condition into a tree whose cheap parts run first. Fields the normalized event carries
// as the record has them (eventName, eventSource, userAgent, errorCode, userIdentity.arn,
// ...) are read from the event, so a rule that tests only those never has the raw record
// parsed. When every way the condition can be true requires eventName to be one of a set of
// literal names, the rule's Meta.Events holds them and the engine hands it those events
// only. The index is exact and the comparison is not, so a name the rule writes in another
// shape than AWS's (deletebucket) leaves the rule unindexed, and correct; a name spelt with
// other capitals in the middle than AWS's (DeleteDbCluster for DeleteDBCluster) would be
// indexed and miss.
//
// A rule's detections have rule_id "sigma:" and the rule's id (its name, or the file's, when
// it has none), its title (and the actor), a severity from its level (informational is info;
// medium when it has none), its tags, the file as source, and as context the selections
// that matched and the values of the fields the rule lists (fields:) or tests. A plain rule
// reports every event it matches, once per event ID.
//
// Correlation rules (correlation: event_count, value_count, temporal) run on
// rules.Threshold: counted per group-by values (read from the record, aliases applied)
// within the account, on event time, within timespan, once per window, with its bounded
// state, its lateness and its restart safety (Oldest). A condition is gt or gte (lt, lte
// and eq, which need the end of a window, are reported as not supported, as is
// temporal_ordered); temporal without one needs all its rules. The rules a correlation
// refers to (by id or name, in any file loaded) make no detections of their own unless it
// says generate: true. A correlation may refer to correlations.
package sigma
