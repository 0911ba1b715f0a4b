package fetcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/discovery/awstest"
	"github.com/trailstream/trailstream/pkg/sources"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestDiscovery runs a fetcher with --discover-trails against the CloudTrail, EC2 and STS
// protocol test server: each trail gets a source (an organization trail one source, flagged),
// whose stored files are read; a deleted trail's source goes, and its files stay in the
// ledger. The trails of another account are found through the role a configured source
// names, assumed with its external ID, and their sources read through that role.
func TestDiscovery(t *testing.T) {
	c := testenv.Config(t)
	cl, _ := testenv.AWS(t, c)
	conn := testenv.ClickHouse(t, c)
	srv := awstest.New(t)
	srv.AddRegion("us-east-1", awstest.OptInNotRequired)
	srv.AddRegion("eu-west-1", awstest.OptInNotRequired)
	const account = "111122223333"
	srv.Env(t, srv.AddUser(account, "trailstream"))
	defer func(d time.Duration) { discoverEvery = d }(discoverEvery)
	discoverEvery = time.Second

	main := awstest.Trail{Account: account, Name: "main", HomeRegion: "eu-west-1", Bucket: c.Bucket, Prefix: "main", Logging: true, MultiRegion: true}
	org := awstest.Trail{Account: account, Name: "org", HomeRegion: "us-east-1", Bucket: c.Bucket, Prefix: "org", Logging: true, MultiRegion: true, Organization: true}
	srv.PutTrail(main)
	srv.PutTrail(org)
	at := time.Now().Add(-2 * time.Hour)
	mainKey := logKey("main/AWSLogs/", account, "eu-west-1", at, "m")
	orgKey := logKey("org/AWSLogs/o-a1b2c3d4e5/", "444455556666", "us-east-1", at, "o")
	putAll(t, cl, c, map[string][]byte{mainKey: testenv.Gzip(trailFile("main", 2, at)), orgKey: testenv.Gzip(trailFile("org", 3, at))})

	// Another account, reached through a role with an external ID.
	const member = "999988887777"
	roleARN := "arn:aws:iam::" + member + ":role/trailstream-read"
	srv.AddRole(roleARN, "ext-4c1d", account)
	memberTrail := awstest.Trail{Account: member, Name: "member", HomeRegion: "us-east-1", Bucket: c.Bucket, Prefix: "member", Logging: true}
	srv.PutTrail(memberTrail)
	file := filepath.Join(t.TempDir(), "sources.yml")
	yml := fmt.Sprintf("sources:\n  - name: member-archive\n    bucket: %s-archive\n    role_arn: %s\n    external_id: ext-4c1d\n", c.Bucket, roleARN)
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c.SourcesFile = file
	c.DiscoverTrails = config.Auto{Value: true, Given: true}
	start(t, c)

	store := sources.NewStore(conn, c.ClickHouseDatabase)
	list := func() map[string]sources.Source {
		all, err := store.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]sources.Source{}
		for _, s := range all {
			out[s.ID] = s
		}
		return out
	}
	sourceOf := func(key string) string {
		var s string
		_ = conn.QueryRow(context.Background(), "SELECT source FROM "+c.ClickHouseDatabase+".files WHERE key = ?", key).Scan(&s)
		return s
	}
	mainID, orgID := "trail:"+main.ARN(), "trail:"+org.ARN()
	eventually(t, 60*time.Second, func() bool { return sourceOf(mainKey) == mainID && sourceOf(orgKey) == orgID },
		func() string {
			return fmt.Sprintf("files read by %q and %q, want the trails' sources; sources %v", sourceOf(mainKey), sourceOf(orgKey), list())
		})
	got := list()
	if s := got[orgID]; !s.Organization || s.Origin != sources.OriginDiscovery || s.TrailARN != org.ARN() || s.Prefix != "org" || !s.Enabled {
		t.Errorf("organization trail's source %+v", s)
	}
	if s := got[mainID]; s.Organization || s.Name != "main" || s.Kind() != sources.KindTrail {
		t.Errorf("trail's source %+v", s)
	}

	memberID := "trail:" + memberTrail.ARN()
	eventually(t, 30*time.Second, func() bool { _, ok := list()[memberID]; return ok },
		func() string { return fmt.Sprintf("no source of the member account's trail: %v", list()) })
	if s := list()[memberID]; s.RoleARN != roleARN || s.ExternalID != "ext-4c1d" {
		t.Errorf("member trail's source %+v, want it read through the role", s)
	}
	var assumed, asRole bool
	for _, call := range srv.Calls() {
		assumed = assumed || call.Action == "AssumeRole" && call.Status == 200
		asRole = asRole || call.Action == "DescribeTrails" && strings.Contains(call.Principal, "assumed-role/trailstream-read/trailstream")
	}
	if !assumed || !asRole {
		t.Errorf("AssumeRole answered %v, DescribeTrails as the role %v; want both", assumed, asRole)
	}

	srv.RemoveTrail(main.ARN())
	eventually(t, 30*time.Second, func() bool { _, ok := list()[mainID]; return !ok },
		func() string { return "the deleted trail's source is still there" })
	if _, ok := list()[orgID]; !ok {
		t.Fatal("the remaining trail's source went too")
	}
	if sourceOf(mainKey) != mainID {
		t.Fatal("the deleted trail's file left the ledger")
	}
}
