package main

import "testing"

// TestRetentionOption: the sink and all take --retention, which only the sink applies; no
// other target takes it.
func TestRetentionOption(t *testing.T) {
	takes := map[string]bool{"sink": true, "all": true}
	for _, tg := range targets {
		f := flagsOf(t, tg.name).Lookup("retention")
		if has := f != nil; has != takes[tg.name] {
			t.Errorf("%s: --retention %v, want %v", tg.name, has, takes[tg.name])
			continue
		}
		if f != nil && f.DefValue != "0" {
			t.Errorf("%s: --retention defaults to %q, want 0 (for ever)", tg.name, f.DefValue)
		}
	}
}
