package rules

// Parsed reports whether the raw record has been parsed (Record): a rule that can read a
// field of the raw record more cheaply than by parsing it all (package sigma scans the
// JSON text for it) does so only while the parse is not paid for already.
func (in *Input) Parsed() bool { return in.parsed }
