package sources

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestParse(t *testing.T) {
	b, err := os.ReadFile("testdata/sources.yml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{ID: "prod", Name: "prod", Origin: OriginFile, Bucket: "acme-cloudtrail", Prefix: "trails/prod", Region: "eu-west-1",
			RoleARN: "arn:aws:iam::111122223333:role/trailstream-read", ExternalID: "4c1d9e", Environment: "prod",
			Queue: "acme-cloudtrail-new", Enabled: true},
		{ID: "dev", Name: "dev", Origin: OriginFile, Bucket: "acme-dev-trail", Environment: "dev", Enabled: false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sources, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("source %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if got[0].Kind() != KindNotifications || got[1].Kind() != KindScan {
		t.Errorf("kinds %q, %q", got[0].Kind(), got[1].Kind())
	}
	if !got[0].Covers("acme-cloudtrail", "trails/prod/AWSLogs/1/x") || got[0].Covers("acme-cloudtrail", "trails/dev/AWSLogs/1/x") {
		t.Error("Covers does not follow the prefix")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "sources:\n  - name: a\n    bucket: abc\n    bucket_region: x\n", "field bucket_region not found"},
		{"bad bucket", "sources:\n  - name: a\n    bucket: Not_A_Bucket\n", `line 2: source 1: bucket "Not_A_Bucket" is not an S3 bucket name`},
		{"bad role", "sources:\n  - name: a\n    bucket: abc\n    role_arn: trailstream\n", `role_arn "trailstream" is not an IAM role ARN`},
		{"external id alone", "sources:\n  - name: a\n    bucket: abc\n    external_id: x\n", "external_id without role_arn"},
		{"duplicate", "sources:\n  - name: a\n    bucket: abc\n  - name: a\n    bucket: abd\n", `line 4: source "a" is defined again (first on line 2)`},
		{"no name", "sources:\n  - bucket: abc\n", `name ""`},
		{"prefix with AWSLogs", "sources:\n  - name: a\n    bucket: abc\n    prefix: x/AWSLogs\n", "the part before AWSLogs/"},
		{"a control character", "sources:\n  - name: a\n    bucket: abc\n    environment: \"pr\\x1bod\"\n", "environment: the character U+001B"},
		{"a prefix longer than a key", "sources:\n  - name: a\n    bucket: abc\n    prefix: " + strings.Repeat("p", 1025) + "\n", "longer than the 1024 bytes"},
		{"bad region", "sources:\n  - name: a\n    bucket: abc\n    region: mars\n", `region "mars" is not an AWS region`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v; want an error with %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/sources.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("sources:\n  - name: a\n    bucket: abc\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		srcs, err := Parse(b)
		if err != nil {
			return
		}
		for _, s := range srcs {
			if err := s.Check(); err != nil {
				t.Fatalf("Parse accepted a source that fails Check: %+v: %v", s, err)
			}
		}
	})
}

func TestStore(t *testing.T) {
	c := testenv.Config(t)
	st := NewStore(testenv.ClickHouse(t, c), c.ClickHouseDatabase)
	ctx := context.Background()
	a := Source{ID: "a", Name: "a", Bucket: "bucket-a", Enabled: true}
	b := Source{ID: "b", Name: "b", Bucket: "bucket-b", Queue: "q", Enabled: true}
	added, removed, err := st.Sync(ctx, OriginFile, []Source{a, b}, false)
	if err != nil || len(added) != 2 || len(removed) != 0 {
		t.Fatalf("first sync: added %v removed %v err %v", added, removed, err)
	}
	if err := st.SetEnabled(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	// b kept with its console flag, a gone, c new.
	c2 := Source{ID: "c", Name: "c", Bucket: "bucket-c", Enabled: true}
	added, removed, err = st.Sync(ctx, OriginFile, []Source{b, c2}, true)
	if err != nil || strings.Join(added, ",") != "c" || strings.Join(removed, ",") != "a" {
		t.Fatalf("second sync: added %v removed %v err %v", added, removed, err)
	}
	got, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "b" || got[0].Enabled || got[1].ID != "c" || got[1].Origin != OriginFile {
		t.Fatalf("sources after sync: %+v", got)
	}

	cp := Checkpoint{Source: "b", Prefix: "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/", Kind: "backfill",
		Account: "111122223333", Region: "us-east-1", FilesTotal: 10, After: "k1", Files: 1}
	cp2 := cp
	cp2.After, cp2.Files, cp2.Done = "k9", 10, true
	if err := st.PutCheckpoints(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCheckpoints(ctx, cp2); err != nil {
		t.Fatal(err)
	}
	cps, err := st.Checkpoints(ctx, "b", "backfill")
	if err != nil || len(cps) != 1 || cps[0].After != "k9" || !cps[0].Done || cps[0].FilesTotal != 10 {
		t.Fatalf("checkpoints: %+v, %v", cps, err)
	}
	if err := st.PutState(ctx, State{Source: "b", Backfill: BackfillDone, ScanInterval: 600e9}); err != nil {
		t.Fatal(err)
	}
	states, err := st.States(ctx)
	if err != nil || states["b"].Backfill != BackfillDone || states["b"].ScanInterval != 600e9 {
		t.Fatalf("states: %+v, %v", states, err)
	}
}
