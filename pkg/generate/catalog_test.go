package generate

import (
	"bytes"
	"testing"
	"time"
)

// TestEveryCallRenders renders each call of the catalogue, allowed and refused, so a
// template with an unknown placeholder or broken JSON fails here and not only when a
// random run happens to pick it.
func TestEveryCallRenders(t *testing.T) {
	for _, a := range apis {
		for _, fail := range []bool{false, true} {
			name := a.name
			if fail {
				name = "!" + name
			}
			t.Run(name, func(t *testing.T) {
				g := newGen(Options{Events: 1, Seed: 1, Start: t0}.withDefaults(t0))
				st := timedStep{step{op: ops[a.name], fail: fail}, t0}
				s := g.newScene(&scenarios[0], t0, []timedStep{st})
				rec := g.render(s, st)
				if bytes.ContainsRune(rec.JSON, '$') {
					t.Errorf("placeholder left in %s", rec.JSON)
				}
				r := decode(t, rec.JSON)
				if r.EventSource+":"+r.EventName != ops[a.name].source+":"+ops[a.name].event {
					t.Errorf("rendered %s %s", r.EventSource, r.EventName)
				}
				signIn := r.EventType == "AwsConsoleSignIn"
				switch {
				case fail && signIn && (r.ErrorMessage != "Failed authentication" || r.ResponseElements["ConsoleLogin"] != "Failure"):
					t.Errorf("a failed sign-in reads %q, %v", r.ErrorMessage, r.ResponseElements)
				case fail && !signIn && (r.ErrorCode == "" || r.ErrorMessage == "" || r.ResponseElements != nil):
					t.Errorf("a refused call has errorCode %q, errorMessage %q, responseElements %v", r.ErrorCode, r.ErrorMessage, r.ResponseElements)
				case !fail && (r.ErrorCode != "" || r.ErrorMessage != ""):
					t.Errorf("an allowed call has error %q %q", r.ErrorCode, r.ErrorMessage)
				}
			})
		}
	}
}

func TestParsePlan(t *testing.T) {
	tests := []struct {
		plan    string
		want    []step
		wantErr bool
	}{
		{plan: "read", want: []step{{}}},
		{plan: "iam:CreateUser, 20-90s iam:DeleteUser", want: []step{
			{op: ops["iam:CreateUser"]}, {op: ops["iam:DeleteUser"], min: 20 * time.Second, max: 90 * time.Second}}},
		{plan: "!signin:ConsoleLogin, 40% 1-3m read", want: []step{
			{op: ops["signin:ConsoleLogin"], fail: true}, {min: time.Minute, max: 3 * time.Minute, odds: 40}}},
		{plan: "iam:NoSuchCall", wantErr: true},
		{plan: "50% read", wantErr: true},
		{plan: "read, 9-3s read", wantErr: true},
		{plan: "read, 3h read", wantErr: true},
		{plan: "read,, read", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.plan, func(t *testing.T) {
			got, err := parsePlan(tt.plan)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePlan(%q) error %v, want error %v", tt.plan, err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parsePlan(%q) = %d steps, want %d", tt.plan, len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("step %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
