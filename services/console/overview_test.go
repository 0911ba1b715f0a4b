package console_test

import (
	"net/url"
	"testing"
)

// Map rows: location, country code, latitude, longitude, events, city, then the panel's own.
var (
	london       = []any{"London, United Kingdom", "GB", 51.5085, -0.1257}
	amsterdam    = []any{"Amsterdam, Netherlands", "NL", 52.374, 4.8897}
	unitedStates = []any{"United States", "US", 37.751, -97.822}
	tokyo        = []any{"Tokyo, Japan", "JP", 35.6895, 139.6917}
	berlin       = []any{"Berlin, Germany", "DE", 52.5244, 13.4105}
	paris        = []any{"Paris, France", "FR", 48.8534, 2.3488}
)

// at is a map row: the place, then the events, the city and the panel's own columns.
func at(place []any, events float64, city string, more ...any) []any {
	return append(append(append([]any{}, place...), events, city), more...)
}

// TestOverview checks the Overview panels on testdata/overview.jsonl.
func TestOverview(t *testing.T) {
	f := loadFixture(t, "overview.jsonl")
	day := f.day()
	prod, dev := with(day, "environment", "prod"), with(day, "environment", "dev")
	f.check(t, []panelCase{
		// Where: the city, else the country; users leave out the hidden name, AWS
		// services and service-linked roles; o01 and o14, delivered twice, count once.
		{"geo", "overview-geo", day, [][]any{
			at(london, 6, "London", 1.0), at(amsterdam, 4, "Amsterdam", 2.0), at(unitedStates, 4, "", 1.0),
			at(berlin, 2, "Berlin", 2.0), at(tokyo, 1, "Tokyo", 0.0)}},
		{"geo default window", "overview-geo", nil, [][]any{
			at(london, 6, "London", 1.0), at(amsterdam, 4, "Amsterdam", 2.0), at(unitedStates, 4, "", 1.0),
			at(berlin, 2, "Berlin", 2.0), at(tokyo, 1, "Tokyo", 0.0)}},
		{"geo dev", "overview-geo", dev, [][]any{at(berlin, 2, "Berlin", 2.0)}},
		{"geo of a user", "overview-geo", with(day, "user_name", "bob"), [][]any{
			at(unitedStates, 4, "", 1.0), at(amsterdam, 1, "Amsterdam", 1.0)}},

		// Successful Create*/Run* by noun: the failed CreateUser (o02), PutObject and
		// AllocateAddress are not created resources; RunInstances counts as one call.
		{"created", "overview-created-resources", day, [][]any{
			{"User", 2.0}, {"Instances", 1.0}, {"NetworkAclEntry", 1.0}, {"SecurityGroup", 1.0}}},
		{"created default window", "overview-created-resources", nil, [][]any{
			{"User", 2.0}, {"Instances", 1.0}, {"NetworkAclEntry", 1.0}, {"SecurityGroup", 1.0}}},
		{"created 25 hours", "overview-created-resources", url.Values{"from": {f.h(-26)}, "to": {f.h(1)}}, [][]any{
			{"User", 3.0}, {"Instances", 1.0}, {"NetworkAclEntry", 1.0}, {"SecurityGroup", 1.0}}},
		{"created the last two hours", "overview-created-resources", with(day, "from", f.h(-2)), [][]any{
			{"NetworkAclEntry", 1.0}, {"User", 1.0}}},
		{"created dev", "overview-created-resources", dev, [][]any{}},
		{"created in eu-west-1", "overview-created-resources", with(day, "aws_region", "eu-west-1"), [][]any{{"User", 1.0}}},

		// Successful Delete* per hour by noun; TerminateInstances is not a Delete, the failed
		// DeleteUser (o10) deletes nothing, o08 delivered twice counts once.
		{"deleted", "overview-deleted-resources", day, [][]any{
			{f.h(-4), "SecurityGroup", 1.0}, {f.h(-4), "User", 1.0}, {f.h(-3), "NetworkAcl", 1.0}}},
		{"deleted prod", "overview-deleted-resources", prod, [][]any{
			{f.h(-4), "SecurityGroup", 1.0}, {f.h(-4), "User", 1.0}}},

		// Users: bob's assumed-role session is bob; the hidden user name, the EC2 service and
		// the Auto Scaling service-linked role are not users.
		{"top users", "overview-top-users", day, [][]any{
			{"alice", 6.0}, {"bob", 5.0}, {"carol", 4.0}, {"dave", 4.0}, {"erin", 1.0}, {`o'brien\`, 1.0}}},
		{"top users prod", "overview-top-users", prod, [][]any{
			{"alice", 6.0}, {"bob", 5.0}, {"dave", 4.0}, {"carol", 3.0}, {`o'brien\`, 1.0}}},
		{"top users of an account", "overview-top-users", with(day, "account_id", "210987654321"), [][]any{{"bob", 1.0}}},
		{"top users, a quote and a backslash", "overview-top-users", with(day, "user_name", `o'brien\`), [][]any{{`o'brien\`, 1.0}}},
		{"top users of an event", "overview-top-users", with(day, "event_name", "ConsoleLogin"), [][]any{{"dave", 2.0}, {"erin", 1.0}}},

		// Failed ConsoleLogin, the hidden user name's too; CheckMfa is not a login.
		{"failed logins", "overview-failed-logins", day, [][]any{{3.0}}},
		{"failed logins default window", "overview-failed-logins", nil, [][]any{{3.0}}},
		{"failed logins prod", "overview-failed-logins", prod, [][]any{{2.0}}},
		{"failed logins dev", "overview-failed-logins", dev, [][]any{{1.0}}},
		{"failed logins all", "overview-failed-logins", with(day, "environment", "all"), [][]any{{3.0}}},
		{"failed logins of an unknown environment", "overview-failed-logins", with(day, "environment", "staging"), [][]any{{0.0}}},
		{"failed logins of dave", "overview-failed-logins", with(day, "user_name", "dave"), [][]any{{1.0}}},

		// Names with Security or Network whose verb is Create or Delete: not the
		// AuthorizeSecurityGroupIngress (o12).
		{"network and security", "overview-network-security-events", day, [][]any{
			{"CreateNetworkAclEntry", 1.0}, {"CreateSecurityGroup", 1.0}, {"DeleteNetworkAcl", 1.0}, {"DeleteSecurityGroup", 1.0}}},
		{"network and security dev", "overview-network-security-events", dev, [][]any{{"DeleteNetworkAcl", 1.0}}},
	})
}
