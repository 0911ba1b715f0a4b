package layout

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		key  string
		want Key
	}{
		{"standard", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T0005Z_abcdefghij012345.json.gz",
			Key{Kind: KindLog, Account: "111122223333", Region: "us-east-1", Day: day}},
		{"custom prefix", "trails/prod/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/30/x.json.gz",
			Key{Kind: KindLog, Prefix: "trails/prod", Account: "111122223333", Region: "eu-west-1", Day: day}},
		{"organization trail", "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2026/11/30/x.json.gz",
			Key{Kind: KindLog, Org: "o-a1b2c3d4e5", Account: "111122223333", Region: "us-east-1", Day: day}},
		{"control tower", "o-a1b2c3d4e5/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/ap-southeast-2/2026/11/30/x.json.gz",
			Key{Kind: KindLog, Prefix: "o-a1b2c3d4e5", Org: "o-a1b2c3d4e5", Account: "111122223333", Region: "ap-southeast-2", Day: day}},
		{"landing zone without org folder", "o-a1b2c3d4e5/AWSLogs/111122223333/CloudTrail/us-gov-west-1/2026/11/30/x.json",
			Key{Kind: KindLog, Prefix: "o-a1b2c3d4e5", Account: "111122223333", Region: "us-gov-west-1", Day: day}},
		{"digest", "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/30/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20261130T010000Z.json.gz",
			Key{Kind: KindDigest, Account: "111122223333", Region: "us-east-1", Day: day}},
		{"insight", "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/11/30/111122223333_CloudTrail-Insight_us-east-1_20261130T0100Z_x.json.gz",
			Key{Kind: KindInsight, Account: "111122223333", Region: "us-east-1", Day: day}},
		{"lake export", "exports/query-results/2026/11/30/result_1.csv.gz", Key{Kind: KindOther, Reason: "not under AWSLogs/"}},
		{"not a prefix boundary", "xAWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/x.json.gz", Key{Kind: KindOther, Reason: "not under AWSLogs/"}},
		{"short account", "AWSLogs/1111/CloudTrail/us-east-1/2026/11/30/x.json.gz", Key{Kind: KindOther, Reason: `account "1111" is not 12 digits`}},
		{"unknown folder", "AWSLogs/111122223333/Config/us-east-1/2026/11/30/x.json.gz",
			Key{Kind: KindOther, Reason: `folder "Config" is not CloudTrail, CloudTrail-Digest or CloudTrail-Insight`}},
		{"bad day", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/13/30/x.json.gz", Key{Kind: KindOther, Reason: `day folder "2026/13/30" is not YYYY/MM/DD`}},
		{"folder marker", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/", Key{Kind: KindOther, Reason: `file "" is not .json.gz or .json`}},
		{"too shallow", "AWSLogs/111122223333/CloudTrail/us-east-1/x.json.gz", Key{Kind: KindOther, Reason: "not <account>/CloudTrail/<region>/YYYY/MM/DD/<file> after AWSLogs/"}},
		{"bad region", "AWSLogs/111122223333/CloudTrail/global/2026/11/30/x.json.gz", Key{Kind: KindOther, Reason: `region "global" is not an AWS region`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.key)
			if got != tt.want {
				t.Fatalf("Parse(%q)\n got %+v\nwant %+v", tt.key, got, tt.want)
			}
			if got.Kind != KindOther {
				folder := got.Folder()
				if len(tt.key) < len(folder) || tt.key[:len(folder)] != folder {
					t.Errorf("Folder() = %q, not a prefix of the key", folder)
				}
			}
		})
	}
}

func TestRoot(t *testing.T) {
	for _, tt := range []struct{ prefix, org, want string }{
		{"", "", "AWSLogs/"},
		{"a/b/", "", "a/b/AWSLogs/"},
		{"/x", "o-a1b2c3d4e5", "x/AWSLogs/o-a1b2c3d4e5/"},
	} {
		if got := Root(tt.prefix, tt.org); got != tt.want {
			t.Errorf("Root(%q, %q) = %q, want %q", tt.prefix, tt.org, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/x.json.gz")
	f.Add("p/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail-Digest/us-east-1/2026/11/30/x.json.gz")
	f.Fuzz(func(t *testing.T, key string) {
		k := Parse(key)
		if k.Kind == KindOther {
			if k.Reason == "" {
				t.Fatalf("Parse(%q): other without a reason", key)
			}
			return
		}
		if folder := k.Folder(); len(key) < len(folder) || key[:len(folder)] != folder {
			t.Fatalf("Parse(%q).Folder() = %q: not a prefix of the key", key, folder)
		}
	})
}

func TestFileTime(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want time.Time
		ok   bool
	}{
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T0905Z_abcdefghij012345.json.gz",
			time.Date(2026, 11, 30, 9, 5, 0, 0, time.UTC), true},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/30/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20261130T100102Z.json.gz",
			time.Date(2026, 11, 30, 10, 1, 2, 0, time.UTC), true},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/custom-name.json.gz", time.Time{}, false},
	} {
		got, ok := FileTime(tt.key)
		if !got.Equal(tt.want) || ok != tt.ok {
			t.Errorf("FileTime(%q) = %v, %v; want %v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}
