package console_test

import "testing"

// TestOperations checks the Operations panels on testdata/ops.jsonl.
func TestOperations(t *testing.T) {
	f := loadFixture(t, "ops.jsonl")
	day := f.day()
	const iam, ec2, s3 = "iam.amazonaws.com", "ec2.amazonaws.com", "s3.amazonaws.com"
	f.check(t, []panelCase{
		// The last hour by default: the calls of the current hour's first minute; GetUser
		// reads. Calls, users, failures.
		{"action events", "ops-action-events", nil, [][]any{
			{"PutRolePolicy", iam, 2.0, 1.0, 1.0}, {"CreateUser", iam, 1.0, 1.0, 0.0}}},
		{"action events of the day", "ops-action-events", day, [][]any{
			{"PutRolePolicy", iam, 2.0, 1.0, 1.0}, {"ReleaseAddress", ec2, 2.0, 2.0, 1.0},
			{"AllocateAddress", ec2, 1.0, 1.0, 0.0}, {"AssociateAddress", ec2, 1.0, 1.0, 0.0},
			{"CreateBucket", s3, 1.0, 1.0, 0.0}, {"CreateUser", iam, 1.0, 1.0, 0.0},
			{"DeleteBucket", s3, 1.0, 1.0, 0.0}, {"DisassociateAddress", ec2, 1.0, 1.0, 0.0},
			{"RunInstances", ec2, 1.0, 1.0, 0.0}}},
		{"action events of a service", "ops-action-events", with(day, "event_source", s3), [][]any{
			{"CreateBucket", s3, 1.0, 1.0, 0.0}, {"DeleteBucket", s3, 1.0, 1.0, 0.0}}},

		// Every call, by service and by region; p07 and p11, delivered twice, count once.
		{"services over time", "ops-services-over-time", day, [][]any{
			{f.h(-5), ec2, 2.0}, {f.h(-5), s3, 1.0}, {f.h(-4), ec2, 1.0}, {f.h(-4), s3, 1.0},
			{f.h(-2), ec2, 4.0}, {f.h(0), iam, 4.0}}},
		{"regions over time", "ops-regions-over-time", day, [][]any{
			{f.h(-5), "eu-west-1", 1.0}, {f.h(-5), "us-east-1", 2.0}, {f.h(-4), "eu-west-1", 1.0},
			{f.h(-4), "us-east-1", 1.0}, {f.h(-2), "us-east-1", 4.0}, {f.h(0), "us-east-1", 4.0}}},
		{"regions over time of failures", "ops-regions-over-time", with(day, "outcome", "failure"), [][]any{
			{f.h(-2), "us-east-1", 1.0}, {f.h(0), "us-east-1", 1.0}}},

		// The last three hours by default (not p09), newest first, failures too, with the
		// address and allocation the record names.
		{"elastic IP operations", "ops-eip-recent", nil, [][]any{
			{f.at(-80), "bob", "ReleaseAddress", "us-east-1", "", "eipalloc-1", "failure"},
			{f.at(-90), "bob", "DisassociateAddress", "us-east-1", "203.0.113.10", "", "success"},
			{f.at(-100), "alice", "AssociateAddress", "us-east-1", "", "eipalloc-1", "success"},
			{f.at(-110), "alice", "AllocateAddress", "us-east-1", "203.0.113.10", "eipalloc-1", "success"}}},

		{"created over time", "ops-created-over-time", day, [][]any{
			{f.h(-5), "Bucket", 1.0}, {f.h(-5), "Instances", 1.0}, {f.h(0), "User", 1.0}}},
		{"deleted over time", "ops-deleted-over-time", day, [][]any{{f.h(-4), "Bucket", 1.0}}},
	})
}
