package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

func TestAWSInternal(t *testing.T) {
	tests := []struct {
		name string
		e    model.Event
		want bool
	}{
		{"a user from the internet", model.Event{UserType: "IAMUser", SourceIP: "81.2.69.160"}, false},
		{"the console", model.Event{UserType: "IAMUser", SourceIP: "81.2.69.160", UserAgent: "AWS Internal"}, false},
		{"a service for a user", model.Event{UserType: "AssumedRole", InvokedBy: "cloudformation.amazonaws.com"}, true},
		{"a service principal", model.Event{UserType: "AWSService"}, true},
		{"a service event", model.Event{EventType: "AwsServiceEvent"}, true},
		{"from within AWS", model.Event{UserType: "AssumedRole", SourceIP: "AWS Internal"}, true},
		{"from a service's host", model.Event{UserType: "AssumedRole", SourceIP: "lambda.amazonaws.com"}, true},
	}
	for _, tt := range tests {
		if got := awsInternal(&tt.e); got != tt.want {
			t.Errorf("%s: awsInternal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPrincipalOf(t *testing.T) {
	tests := []struct {
		e    model.Event
		want string
	}{
		{model.Event{UserARN: "arn:aws:iam::123456789012:user/alice", PrincipalID: "AIDA1", UserName: "alice"}, "arn:aws:iam::123456789012:user/alice"},
		{model.Event{PrincipalID: "AROA1:session", UserName: "session"}, "AROA1:session"},
		{model.Event{UserName: "anonymous"}, "anonymous"},
		{model.Event{InvokedBy: "s3.amazonaws.com"}, "s3.amazonaws.com"},
	}
	for _, tt := range tests {
		if got := principalOf(&tt.e); got != tt.want {
			t.Errorf("principalOf(%+v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestIsWrite(t *testing.T) {
	tests := []struct {
		action   string
		readOnly bool
		want     bool
	}{
		{"create", false, true}, {"delete", false, true}, {"modify", false, true},
		{"modify", true, false}, // CloudTrail's readOnly wins
		{"read", false, false}, {"list", false, false}, {"login", false, false}, {"other", false, false},
	}
	for _, tt := range tests {
		if got := isWrite(&model.Event{Action: tt.action, IsReadOnly: tt.readOnly}); got != tt.want {
			t.Errorf("isWrite(%s, read-only %v) = %v, want %v", tt.action, tt.readOnly, got, tt.want)
		}
	}
}

func TestOffensiveTool(t *testing.T) {
	tests := []struct {
		ua    string
		tools []string
		want  string
	}{
		{"TruffleHog aws-sdk-go/1.55.5 (go1.23.2; linux; amd64)", defaultOffensiveUserAgents, "trufflehog"},
		{"aws-cli/1.22.34 Python/3.9.2 Linux/5.10.0-kali7-amd64 botocore/1.23.34", defaultOffensiveUserAgents, "kali"},
		{"Boto3/1.35.50 md/Botocore#1.35.50 Python/3.12.3 Pacu/1.6.0", defaultOffensiveUserAgents, "pacu"},
		{"aws-cli/2.22.0 md/awscrt#0.23.4 ua/2.0 os/macos#24.1.0 md/arch#arm64", defaultOffensiveUserAgents, ""},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0", defaultOffensiveUserAgents, ""},
		{"", defaultOffensiveUserAgents, ""},
		{"anything", []string{""}, ""}, // an empty entry matches nothing
		{"Scout Suite/5.14.0 ScoutSuite Boto3/1.35.50", []string{"pacu", "scoutsuite"}, "scoutsuite"},
	}
	for _, tt := range tests {
		if got := offensiveTool(tt.ua, tt.tools); got != tt.want {
			t.Errorf("offensiveTool(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}

// TestOffensiveUserAgentsConfig checks that a configured list replaces the default one and
// is matched case insensitively however it is written.
func TestOffensiveUserAgentsConfig(t *testing.T) {
	rs, err := New(&Config{OffensiveUserAgents: []string{"ScoutSuite"}})
	if err != nil {
		t.Fatal(err)
	}
	var r Rule
	for _, x := range rs {
		if x.Info().ID == "offensive-tool-user-agent" {
			r = x
		}
	}
	if r == nil {
		t.Fatal("offensive-tool-user-agent is not in the catalogue")
	}
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i, ua := range []string{"TruffleHog aws-sdk-go/1.55.5", "Scout Suite/5.14.0 ScoutSuite Boto3/1.35.50"} {
		e := &model.Event{EventID: ua, AccountID: "123456789012", UserName: "deploy", UserAgent: ua, EventTime: at}
		got := len(r.Observe(NewInput(e, Position{Offset: int64(i)}, at)))
		if want := i; got != want {
			t.Errorf("%q: %d detections, want %d", ua, got, want)
		}
	}
}

func TestDays(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "1 day", 30 * 24 * time.Hour: "30 days", 36 * time.Hour: "36h0m0s"} {
		if got := days(d); got != want {
			t.Errorf("days(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestToolMatcher(t *testing.T) {
	m := newToolMatcher([]string{"pacu"})
	for i := range maxUserAgents + 5 {
		ua := fmt.Sprintf("aws-cli/2.22.%d", i)
		if i%7 == 0 {
			ua += " Pacu/1.6.0"
		}
		want := ""
		if i%7 == 0 {
			want = "pacu"
		}
		for range 2 { // judged, then remembered
			if got := m.tool(ua); got != want {
				t.Fatalf("tool(%q) = %q, want %q", ua, got, want)
			}
		}
		if len(m.seen) > maxUserAgents {
			t.Fatalf("the matcher remembers %d user agents, more than %d", len(m.seen), maxUserAgents)
		}
	}
}
