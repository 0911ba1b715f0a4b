package console_test

import "testing"

// TestS3Public checks the S3 Public Objects and Buckets panels on testdata/s3.jsonl.
func TestS3Public(t *testing.T) {
	f := loadFixture(t, "s3.jsonl")
	day := f.day()
	const acct, region = "123456789012", "us-east-1"
	f.check(t, []panelCase{
		// Written public by canned ACL (s01, s05: one object written twice; s04) and by a
		// grant to AllUsers (s02) or AuthenticatedUsers (s07); not the private s03, nor the
		// failed s06.
		{"new public objects", "s3-new-public-objects", day, [][]any{{4.0}}},
		{"new public objects by default", "s3-new-public-objects", nil, [][]any{{4.0}}},
		{"new public objects of bob", "s3-new-public-objects", with(day, "user_name", "bob"), [][]any{{2.0}}},
		{"new public objects over time", "s3-new-public-objects-over-time", day, [][]any{
			{f.h(-5), "b1/grant/b.txt", 1.0}, {f.h(-5), "b1/public/a.txt", 2.0}, {f.h(-5), "b2/copy/d.txt", 1.0},
			{f.h(-4), "b2/big/e.bin", 1.0}}},
		{"new public objects table", "s3-new-public-objects-table", day, [][]any{
			{f.at(-240), "big/e.bin", "b2", acct, region, "bob", "AKIABOB"},
			{f.at(-260), "public/a.txt", "b1", acct, region, "alice", "AKIAALICE"},
			{f.at(-270), "copy/d.txt", "b2", acct, region, "carol", "AKIACAROL"},
			{f.at(-290), "grant/b.txt", "b1", acct, region, "bob", "AKIABOB"},
			{f.at(-300), "public/a.txt", "b1", acct, region, "alice", "AKIAALICE"}}},

		// Made public by ACL grant (s08, first of two grants; s16 canned) or canned ACL at
		// creation (s09), a policy for Principal * (s10; not s11, confined to a VPC endpoint),
		// the public access block removed (s12) or weakened (s13; not s14, all true); not the
		// private ACL s15.
		{"public buckets", "s3-public-buckets", day, [][]any{{5.0}}},
		{"public buckets over time", "s3-public-buckets-over-time", day, [][]any{
			{f.h(-4), "b3", 1.0}, {f.h(-4), "b4", 1.0}, {f.h(-3), "b5", 1.0}, {f.h(-3), "b7", 1.0},
			{f.h(-3), "b8", 1.0}, {f.h(-2), "b3", 1.0}}},
		{"public buckets table", "s3-public-buckets-table", day, [][]any{
			{f.at(-120), "b3", "acl", acct, region, "bob", "AKIABOB"},
			{f.at(-150), "b8", "access block", acct, region, "dave", "AKIADAVE"},
			{f.at(-160), "b7", "access block", acct, region, "dave", "AKIADAVE"},
			{f.at(-180), "b5", "policy", acct, region, "carol", "AKIACAROL"},
			{f.at(-190), "b4", "acl", acct, region, "bob", "AKIABOB"},
			{f.at(-200), "b3", "acl", acct, region, "alice", "AKIAALICE"}}},

		// An existing object's ACL made public by canned ACL (s17) or by a grant, the second
		// of its grants (s18); not the private s19.
		{"modified public objects", "s3-modified-public-objects", day, [][]any{{2.0}}},
		{"modified public objects over time", "s3-modified-public-objects-over-time", day, [][]any{
			{f.h(-2), "b1/private/c.txt", 1.0}, {f.h(-2), "b2/doc/f.txt", 1.0}}},
		{"modified public objects table", "s3-modified-public-objects-table", day, [][]any{
			{f.at(-90), "doc/f.txt", "b2", acct, region, "bob", "AKIABOB"},
			{f.at(-100), "private/c.txt", "b1", acct, region, "alice", "AKIAALICE"}}},
		{"modified public objects of another account", "s3-modified-public-objects", with(day, "account_id", "999999999999"), [][]any{{0.0}}},
	})
}
