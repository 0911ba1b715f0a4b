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
				st := timedStep{step: step{op: ops[a.name], fail: fail}, at: t0}
				s := g.newScene(&scenarios[0], t0, []timedStep{st}, nil, nil)
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
				case fail && signIn && r.ResponseElements[r.EventName] != "Failure":
					t.Errorf("a failed sign-in step responds %v", r.ResponseElements)
				case fail && signIn && !ops[a.name].noDenyMsg && r.ErrorMessage != "Failed authentication":
					t.Errorf("a failed sign-in reads %q", r.ErrorMessage)
				case fail && signIn && ops[a.name].noDenyMsg && r.ErrorMessage != "":
					t.Errorf("a failed MFA check reads %q", r.ErrorMessage)
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
		{plan: "read, x3-5 1-2s @hop !read", want: []step{
			{}, {min: time.Second, max: 2 * time.Second, fail: true, repeat: 3, repeatMax: 5, hop: true}}},
		{plan: "signin:ConsoleLogin, 5-20m @near signin:ConsoleLogin, 50% x2 1-3m @abroad iam:CreateAccessKey#root", want: []step{
			{op: ops["signin:ConsoleLogin"]}, {op: ops["signin:ConsoleLogin"], min: 5 * time.Minute, max: 20 * time.Minute, from: "near"},
			{op: ops["iam:CreateAccessKey#root"], min: time.Minute, max: 3 * time.Minute, odds: 50, repeat: 2, repeatMax: 2, from: "abroad"}}},
		{plan: "iam:NoSuchCall", wantErr: true},
		{plan: "iam:CreateAccessKey#nosuchvariant", wantErr: true},
		{plan: "x2 read", wantErr: true},
		{plan: "read, x3 read", wantErr: true},
		{plan: "read, x1 1-2s read", wantErr: true},
		{plan: "read, x5-3 1-2s read", wantErr: true},
		{plan: "read, @elsewhere 1-2s read", wantErr: true},
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

// TestRepeatedSteps plays a plan with a repeated step and calls from elsewhere: each
// repetition is its own call, a delay after the one before, on another object; @near and
// @abroad keep one address each, of the scene's country and of another; @hop goes through
// the regions in turn.
func TestRepeatedSteps(t *testing.T) {
	steps, err := parsePlan("s3:GetBucketLocation, x6 1-2s s3:DeleteObject, 1-2s @near read, 1-2s @near read, " +
		"1-2s @abroad read, 1-2s @abroad read, x5 1-2s @hop secretsmanager:GetSecretValue")
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{name: "test", actor: human, cli: true, steps: steps}
	g := newGen(Options{Events: 100, Seed: 3, Start: t0}.withDefaults(t0))
	planned := g.plan(sc, t0)
	if len(planned) != 1+6+4+5 {
		t.Fatalf("planned %d calls, want 16", len(planned))
	}
	s := g.newScene(sc, t0, planned, nil, nil)
	var recs []ct
	for _, st := range planned {
		recs = append(recs, decode(t, g.render(s, st).JSON))
	}
	keys := map[string]bool{}
	for i, r := range recs[1:7] {
		if r.EventName != "DeleteObject" || recs[i].EventTime.After(r.EventTime) || r.EventTime.Sub(recs[i].EventTime) > 2*time.Second {
			t.Errorf("repetition %d: %s at %s, after %s", i, r.EventName, r.EventTime, recs[i].EventTime)
		}
		keys[str(r.RequestParameters["key"])] = true
	}
	if len(keys) < 5 {
		t.Errorf("six deletions of %d keys, want (almost) one each", len(keys))
	}
	home, near, abroad := recs[0].SourceIPAddress, recs[7].SourceIPAddress, recs[9].SourceIPAddress
	switch {
	case recs[8].SourceIPAddress != near || recs[10].SourceIPAddress != abroad:
		t.Errorf("@near from %s and %s, @abroad from %s and %s: want one address each", near, recs[8].SourceIPAddress, abroad, recs[10].SourceIPAddress)
	case near == home || countryOf(near).code != countryOf(home).code:
		t.Errorf("@near from %s (%s), the scene from %s (%s)", near, countryOf(near).code, home, countryOf(home).code)
	case countryOf(abroad).code == countryOf(home).code:
		t.Errorf("@abroad from %s, in the scene's country %s", abroad, countryOf(home).code)
	}
	for i, r := range recs[11:] {
		if r.AWSRegion != regionNames[i] {
			t.Errorf("@hop call %d in %s, want %s", i, r.AWSRegion, regionNames[i])
		}
	}
}
