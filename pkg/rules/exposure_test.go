package rules

import (
	"slices"
	"testing"
)

func TestWorldOpen(t *testing.T) {
	tests := []struct {
		rule     string
		open     []string
		critical bool
	}{
		{"tcp 443 from 0.0.0.0/0 allow", []string{"tcp 443"}, false},
		{"tcp 22 from 0.0.0.0/0, ::/0 allow", []string{"tcp 22"}, true},
		{"tcp 22 from 10.0.0.0/8 allow; tcp 80 from ::/0 allow", []string{"tcp 80"}, false},
		{"tcp 3389 from 198.51.100.0/24 allow", nil, false},
		{"all from 0.0.0.0/0 allow", []string{"all"}, true},
		{"tcp from 0.0.0.0/0 allow", []string{"tcp"}, true},
		{"udp 0-65535 from ::/0 allow", []string{"udp 0-65535"}, true},
		{"tcp 3000-3389 from 0.0.0.0/0 allow", []string{"tcp 3000-3389"}, true},
		{"tcp 23-3388 from 0.0.0.0/0 allow", []string{"tcp 23-3388"}, false},
		{"icmp from 0.0.0.0/0 allow", []string{"icmp"}, false},
		{"50 from 0.0.0.0/0 allow", []string{"50"}, false},
		{"tcp 443 from sg-1 allow; tcp 22 from pl-1, 0.0.0.0/0 allow", []string{"tcp 22"}, true},
		{"tcp 22 from 0.0.0.0/1 allow", nil, false},
		{"", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			open, critical := worldOpen(tc.rule)
			if !slices.Equal(open, tc.open) || critical != tc.critical {
				t.Fatalf("worldOpen = %q, %v; want %q, %v", open, critical, tc.open, tc.critical)
			}
		})
	}
}
