package console_test

import (
	"net/http"
	"strings"
	"testing"
)

// upload replaces the admin users with names through the console, as curl -T does.
func (f *fixture) upload(t *testing.T, names ...string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, f.srv.URL+"/api/admin-users", strings.NewReader(strings.Join(names, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("upload admin users: %s", res.Status)
	}
}

// TestUserMonitoring checks the User Monitoring panels on testdata/users.jsonl, and that the
// admin panels follow the admin list uploaded after the events were stored.
func TestUserMonitoring(t *testing.T) {
	f := loadFixture(t, "users.jsonl")
	day := f.day()
	f.check(t, []panelCase{
		{"geo", "users-geo", day, [][]any{
			at(london, 8, "London", 1.0), at(unitedStates, 4, "", 1.0), at(berlin, 3, "Berlin", 1.0)}},
		// bob's RunInstances through the Admin role is bob's.
		{"top users", "users-top-users", day, [][]any{{"alice", 8.0}, {"bob", 4.0}, {"carol", 3.0}, {"dave", 1.0}}},
		// Instances, not calls: u06 launched three (and is delivered twice), u09 terminated
		// two; the failed RunInstances (u08) launched none.
		{"instances", "users-instances-by-user", day, [][]any{
			{f.h(-5), "bob (launched)", 3.0}, {f.h(-5), "carol (launched)", 1.0},
			{f.h(-4), "bob (terminated)", 2.0}, {f.h(-2), "carol (terminated)", 1.0}}},
		{"instances of carol", "users-instances-by-user", with(day, "user_name", "carol"), [][]any{
			{f.h(-5), "carol (launched)", 1.0}, {f.h(-2), "carol (terminated)", 1.0}}},

		// No list uploaded yet: the normalizer's own list (dave) counts.
		{"admin activity before an upload", "users-admin-activity-over-time", day, [][]any{{f.h(-4), "dave", 1.0}}},
		{"admin top activities before an upload", "users-admin-top-activities", day, [][]any{{"CreateUser", 1.0}}},
		{"admin recent activity before an upload", "users-admin-recent-activity", nil, [][]any{}},
	})

	// The list names alice and Bob (names compare case-insensitively): their non-read
	// calls count; Get, List, Describe and Head calls do not; dave is no longer an admin.
	f.upload(t, "alice", "Bob")
	f.check(t, []panelCase{
		{"admin activity", "users-admin-activity-over-time", day, [][]any{
			{f.h(-5), "alice", 3.0}, {f.h(-5), "bob", 1.0}, {f.h(-4), "bob", 1.0},
			{f.h(-2), "alice", 1.0}, {f.h(-1), "alice", 1.0}, {f.h(-1), "bob", 1.0}}},
		{"admin top activities", "users-admin-top-activities", day, [][]any{
			{"PutUserPolicy", 2.0}, {"ConsoleLogin", 1.0}, {"CreateAccessKey", 1.0}, {"CreateUser", 1.0},
			{"DeleteUser", 1.0}, {"RunInstances", 1.0}, {"TerminateInstances", 1.0}}},
		{"admin top activities of bob", "users-admin-top-activities", with(day, "user_name", "bob"), [][]any{
			{"DeleteUser", 1.0}, {"RunInstances", 1.0}, {"TerminateInstances", 1.0}}},
		// The last three hours by default, newest first.
		{"admin recent activity", "users-admin-recent-activity", nil, [][]any{
			{f.at(-30), "alice", "ConsoleLogin", "us-east-1", "United Kingdom", "London"},
			{f.at(-60), "bob", "DeleteUser", "us-east-1", "United States", ""},
			{f.at(-90), "alice", "CreateAccessKey", "us-east-1", "United Kingdom", "London"}}},
	})

	// A new upload reclassifies the stored events: carol is the only admin now, her failed
	// RunInstances a non-read call like any other.
	f.upload(t, "carol")
	f.check(t, []panelCase{
		{"admin activity after a new upload", "users-admin-activity-over-time", day, [][]any{
			{f.h(-5), "carol", 2.0}, {f.h(-2), "carol", 1.0}}},
		{"admin top activities after a new upload", "users-admin-top-activities", day, [][]any{
			{"RunInstances", 2.0}, {"TerminateInstances", 1.0}}},
		{"admin recent activity after a new upload", "users-admin-recent-activity", nil, [][]any{
			{f.at(-110), "carol", "TerminateInstances", "us-east-1", "Germany", "Berlin"}}},
	})

	// An empty upload leaves no admin.
	f.upload(t)
	f.check(t, []panelCase{{"admin activity after an empty upload", "users-admin-activity-over-time", day, [][]any{}}})
}
