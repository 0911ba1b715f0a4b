package console

import (
	"time"
)

// dashboard is one page of panels.
type dashboard struct {
	ID, Title, Description string
}

// dashboards are the console's pages, in the order of the navigation bar; their panels are
// the rows of panels with the dashboard's ID.
var dashboards = []dashboard{
	{"overview", "Overview", "Your AWS users, resources, network and security events: top users, failed logins, user locations, and resource creation and deletion."},
	{"user-monitoring", "User Monitoring", "Your AWS users: where they are, what the administrative users do, and who launches and terminates instances."},
	{"network-security", "Network and Security", "Network and security events, authorization failures, security group and network ACL changes, and short-lived critical operations."},
	{"operations", "Operations", "Operations in your AWS accounts: action events, requested services, events by region, created and deleted resources, and elastic IP address operations."},
	{"console-logins", "Console Logins", "Console sign-ins: where from, by whom, from several addresses or from abroad, outliers, a day-over-day comparison and sign-ins without MFA."},
	{"s3-public", "S3 Public Objects and Buckets", "Objects written public, buckets made public, and object ACLs changed to public."},
}

// SQL fragments the panels share. Every one is a fixed text; the values a request brings are
// bound as parameters (@from, @to, @lookback, @home_countries and one per filter).
const (
	hourExpr = `toStartOfHour(event_time, 'UTC')`
	// nounExpr is the resource noun of an API name: the name without its leading verb
	// (CreateUser → User, RunInstances → Instances, DeleteDBInstance → DBInstance).
	nounExpr = `replaceRegexpOne(event_name, '^[A-Z][a-z]*', '')`
	// isUser: the actor is a person or a workload of the customer's, not an AWS service
	// acting on its own (an AWSService identity, or a service-linked role's session) and
	// not a user name CloudTrail hid.
	isUser = `user_name != '' AND user_name_hidden = 0 AND user_type != 'AWSService' AND NOT (user_type = 'AssumedRole' AND role_name LIKE 'AWSServiceRoleFor%')`
	// nonRead: not a Get, Describe, List or Head call.
	nonRead = `NOT match(event_name, '^(Get|Describe|List|Head)([A-Z]|$)')`
	// isAdmin: the user is on the latest uploaded admin list, read when the query runs, so
	// a new upload reclassifies stored events. Before any upload, the flag the normalizer
	// set from its own --admin-users file counts.
	isAdmin = `(lower(user_name) IN (SELECT lower(user_name) FROM {admin_users} WHERE upload_id = (SELECT max(upload_id) FROM {admin_users}) AND user_name != '') OR is_admin = 1 AND (SELECT count() FROM {admin_users}) = 0)`
	created = `outcome = 'success' AND match(event_name, '^(Create|Run)[A-Z]')`
	deleted = `outcome = 'success' AND match(event_name, '^Delete[A-Z]')`
	// netsecCreateDelete: a name containing Security or Network whose verb is exactly
	// Create or Delete.
	netsecCreateDelete = `match(event_name, 'Security|Network') AND match(event_name, '^(Create|Delete)[A-Z]')`
	authzFailure       = `match(error_code, '^AccessDenied|UnauthorizedOperation$')`
	consoleLogin       = `event_name = 'ConsoleLogin'`
	userLabel          = `if(user_name_hidden = 1, '(hidden)', user_name)`
	sgChange           = `event_name IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress')`
	naclEntry          = `event_name IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')`
	// naclAllowAll is an entry allowing every protocol from or to anywhere; network_rule
	// reads "#100 ingress all from 0.0.0.0/0 allow" (schemas/README.md).
	naclAllowAll    = naclEntry + ` AND outcome = 'success' AND match(network_rule, '^#[0-9]+ (ingress|egress) all (from|to) (0\\.0\\.0\\.0/0|::/0) allow$')`
	publicObjectNew = `event_name IN ('PutObject', 'CopyObject', 'CreateMultipartUpload') AND is_public_exposure = 1 AND resource_type = 's3-object'`
	publicObjectACL = `event_name = 'PutObjectAcl' AND is_public_exposure = 1 AND resource_type = 's3-object'`
	publicBucket    = `event_name IN ('PutBucketAcl', 'CreateBucket', 'PutBucketPolicy', 'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock') AND is_public_exposure = 1 AND resource_type = 's3-bucket'`
	shortLived      = `event_id IN (SELECT arrayJoin(event_ids) FROM {detections} WHERE rule_id = 'short-lived-iam-object')`
	objectName      = `resource_names[1]`
	objectKey       = `substring(resource_names[1], position(resource_names[1], '/') + 1)`
	objectBucket    = `splitByChar('/', resource_names[1])[1]`
)

// Column constructors.
func str(name, label string) column { return column{Name: name, Label: label, Type: "string"} }
func num(name, label string) column { return column{Name: name, Label: label, Type: "number"} }
func tim(name, label string) column { return column{Name: name, Label: label, Type: "time"} }

// mapColumns are a map's columns: the location, its code and point, the events there and
// the city (empty for a country-level location); then the panel's own.
func mapColumns(extra ...column) []column {
	return append([]column{str("location", "Location"), str("country_code", "Country code"),
		num("latitude", "Latitude"), num("longitude", "Longitude"), num("events", "Events"), str("city", "City")}, extra...)
}

// mapSQL counts the panel's events by location, with extra aggregates after the city.
func mapSQL(extra string) string {
	return `SELECT if(city != '', concat(city, ', ', country_name), country_name) AS location, country_code,
	any(latitude) AS latitude, any(longitude) AS longitude, count() AS events, city` + extra + `
FROM {events} WHERE {filter} AND {match} AND country_code != ''
GROUP BY country_code, country_name, city ORDER BY events DESC, location LIMIT 1000`
}

func nameValue(nameLabel, valueLabel string) []column {
	return []column{str("name", nameLabel), num("value", valueLabel)}
}

// countBy counts the panel's events by name, largest first.
func countBy(name string, limit string) string {
	return `SELECT ` + name + ` AS name, count() AS value FROM {events} WHERE {filter} AND {match}
GROUP BY name ORDER BY value DESC, name LIMIT ` + limit
}

func seriesColumns(seriesLabel, valueLabel string) []column {
	return []column{tim("time", "Hour"), str("series", seriesLabel), num("value", valueLabel)}
}

// hourly counts the panel's events (or sums value) per hour and series.
func hourly(series, value string) string {
	return `SELECT ` + hourExpr + ` AS time, ` + series + ` AS series, ` + value + ` AS value
FROM {events} WHERE {filter} AND {match} GROUP BY time, series ORDER BY time, series`
}

// single is the one value of a panel's events.
func single(value string) string {
	return `SELECT ` + value + ` AS value FROM {events} WHERE {filter} AND {match}`
}

// recent lists the panel's events, newest first.
func recent(columns string) string {
	return `SELECT ` + columns + ` FROM {events} WHERE {filter} AND {match} ORDER BY event_time DESC, event_id LIMIT 500`
}

// outlierSQL counts the panel's events per hour from ten hours before the window (the band
// of the first point) to its end; Go fills the empty hours and computes the band.
// objectTable is what the two tables of S3 objects made public show, one row an object
// write or ACL change.
var objectTable = struct {
	columns []column
	sql     string
	drill   map[string]string
}{
	columns: []column{tim("time", "Time"), str("key", "Key"), str("bucket", "Bucket"), str("account_id", "Account"),
		str("aws_region", "Region"), str("user", "User"), str("access_key_id", "Access key ID")},
	sql:   recent(`event_time AS time, ` + objectKey + ` AS key, ` + objectBucket + ` AS bucket, account_id, aws_region, user_name AS user, access_key_id`),
	drill: map[string]string{"time": "second", "account_id": "account_id", "aws_region": "aws_region", "user": "user_name", "access_key_id": "access_key_id"},
}

const outlierSQL = `SELECT ` + hourExpr + ` AS time, count() AS value FROM {events}
WHERE event_time >= @lookback AND event_time < @to AND {dims} AND {match} GROUP BY time ORDER BY time`

var (
	geoOfUsers = panel{
		Title: "Geo Location of All Users", Kind: "map", Window: 24 * time.Hour, Geolocated: true,
		Columns: mapColumns(num("users", "Users")),
		Match:   "1",
		SQL:     mapSQL(", uniqExactIf(user_name, " + isUser + ") AS users"),
		Description: "Events by the location of their source address: the city with a city database (--geoip-city-db), " +
			"else the country. Unlike the seed product, which counts log lines, every event counts once however often it was delivered.",
		Drill: map[string]string{"country_code": "country_code", "city": "city"},
	}
	createdResources = panel{
		Title: "Created Resources", Kind: "pie", Window: 24 * time.Hour,
		Columns: nameValue("Resource", "Created"),
		Match:   created,
		SQL:     countBy(nounExpr, "100"),
		Description: "Successful Create* and Run* calls by the resource they name (CreateUser → User, RunInstances → Instances). " +
			"The seed product counts failed calls as created resources too; we count only calls that succeeded.",
		Drill: map[string]string{"name": "noun"},
	}
	deletedResources = panel{
		Title: "Deleted Resources Over Time", Kind: "stacked-column", Window: 24 * time.Hour,
		Columns: seriesColumns("Resource", "Deleted"),
		Match:   deleted,
		SQL:     hourly(nounExpr, "count()"),
		Description: "Successful Delete* calls per hour, one series per resource noun (DeleteUser → User). " +
			"Failed deletions delete nothing and are left out.",
		Drill: map[string]string{"time": "hour", "series": "noun"},
	}
	topUsers = panel{
		Title: "Top 10 Users", Kind: "column", Window: 24 * time.Hour,
		Columns: nameValue("User", "Events"),
		Match:   isUser,
		SQL:     countBy("user_name", "10"),
		Description: "Events per user. An assumed role counts as the person behind the session (its session name), not as the role, " +
			"as the seed product counts it; AWS services acting on their own (AWSService identities, service-linked roles) " +
			"and user names CloudTrail hid are not users.",
		Drill: map[string]string{"name": "user_name"},
	}
	netsecCreatedDeleted = panel{
		Title: "Created and Deleted Network and Security Events", Kind: "pie", Window: 24 * time.Hour,
		Columns: nameValue("Event", "Events"),
		Match:   netsecCreateDelete,
		SQL:     countBy("event_name", "100"),
		Description: "Calls whose name contains Security or Network and whose verb is exactly Create or Delete, by event name, " +
			"as the seed product's query selects them.",
		Drill: map[string]string{"name": "event_name"},
	}
	outlierColumns = []column{tim("time", "Hour"), num("value", "Logins"), num("mean", "Mean"),
		num("lower", "Lower"), num("upper", "Upper"), {Name: "outlier", Label: "Outlier", Type: "bool"}}
	outlierDescription = " per hour, every hour of the window, with the band mean ± 3σ (population standard deviation) " +
		"of the 10 hours before each point; a point above or below its band is an outlier. Points are whole hours: " +
		"the first is the hour the window starts in."
)

// in returns p with its ID and dashboard set.
func in(dash, id string, p panel) panel {
	p.ID, p.Dashboard = id, dash
	return p
}

// panels lists every panel the console serves, dashboard by dashboard, in page order.
// Adding a panel is adding a row.
var panels = []panel{
	// Overview.
	in("overview", "overview-geo", geoOfUsers),
	in("overview", "overview-created-resources", createdResources),
	in("overview", "overview-deleted-resources", deletedResources),
	in("overview", "overview-top-users", topUsers),
	{
		ID: "overview-failed-logins", Dashboard: "overview", Title: "Failed Logins", Kind: "single", Window: 24 * time.Hour,
		Columns:     []column{num("value", "Failed logins")},
		Match:       consoleLogin + ` AND outcome = 'failure'`,
		SQL:         single("count()"),
		Description: "Failed console sign-ins (ConsoleLogin), including those whose user name CloudTrail hid.",
	},
	in("overview", "overview-network-security-events", netsecCreatedDeleted),

	// User Monitoring.
	in("user-monitoring", "users-geo", geoOfUsers),
	{
		ID: "users-admin-activity-over-time", Dashboard: "user-monitoring", Title: "Administrative Activities Over Time",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns: seriesColumns("Administrator", "Calls"),
		Match:   isAdmin + " AND " + nonRead,
		SQL:     hourly("user_name", "count()"),
		Description: "Non-read calls (not Get, Describe, List or Head) of the administrative users per hour, one series per administrator. " +
			"The admin list is the latest upload (curl -T admin_users.csv /api/admin-users), read when the panel is drawn, " +
			"so an upload reclassifies the events already stored.",
		Drill: map[string]string{"time": "hour", "series": "user_name"},
	},
	{
		ID: "users-admin-top-activities", Dashboard: "user-monitoring", Title: "Top 10 Activities by Administrative Users",
		Kind: "bar", Window: 24 * time.Hour,
		Columns:     nameValue("Event", "Calls"),
		Match:       isAdmin + " AND " + nonRead,
		SQL:         countBy("event_name", "10"),
		Description: "The administrative users' non-read calls by event name, the ten most frequent. The admin list is the latest upload, read when the panel is drawn.",
		Drill:       map[string]string{"name": "event_name"},
	},
	in("user-monitoring", "users-top-users", topUsers),
	{
		ID: "users-instances-by-user", Dashboard: "user-monitoring", Title: "Launched and Terminated Instances by User",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns: seriesColumns("User", "Instances"),
		Match:   `event_name IN ('RunInstances', 'TerminateInstances') AND outcome = 'success' AND resource_type = 'ec2-instance'`,
		SQL:     hourly(`concat(if(user_name = '', '(unknown)', user_name), if(event_name = 'RunInstances', ' (launched)', ' (terminated)'))`, "sum(length(resource_names))"),
		Description: "Instances launched and terminated per hour, one series per user and direction (\"alice (launched)\"). " +
			"We count instances, not calls: a RunInstances of three instances counts three, where the seed product counts one; failed calls launch nothing.",
		Drill: map[string]string{"time": "hour"},
	},
	{
		ID: "users-admin-recent-activity", Dashboard: "user-monitoring", Title: "Recent Activity by Administrative Users",
		Kind: "table", Window: 3 * time.Hour,
		Columns: []column{tim("time", "Time"), str("user", "User"), str("event", "Event"), str("region", "Region"),
			str("country", "Country"), str("city", "City")},
		Match:       isAdmin + " AND " + nonRead,
		SQL:         recent(`event_time AS time, user_name AS user, event_name AS event, aws_region AS region, country_name AS country, city`),
		Description: "The administrative users' non-read calls, newest first (at most 500). The admin list is the latest upload, read when the panel is drawn.",
		Drill:       map[string]string{"time": "second", "user": "user_name", "event": "event_name", "region": "aws_region"},
	},

	// Network and Security.
	{
		ID: "netsec-authz-failures-geo", Dashboard: "network-security", Title: "Authorization Failures from All Countries",
		Kind: "map", Window: 24 * time.Hour, Geolocated: true,
		Columns: mapColumns(num("users", "Users")),
		Match:   authzFailure,
		SQL:     mapSQL(", uniqExactIf(user_name, " + isUser + ") AS users"),
		Description: "Calls that failed with AccessDenied* or *UnauthorizedOperation (Client.UnauthorizedOperation included), by location. " +
			"The seed product matches \"Access Denied\" only, missing EC2's UnauthorizedOperation.",
		Drill: map[string]string{"country_code": "country_code", "city": "city"},
	},
	{
		ID: "netsec-authz-failures-recent", Dashboard: "network-security", Title: "Recent Authorization Failures",
		Kind: "table", Window: 3 * time.Hour,
		Columns: []column{tim("time", "Time"), str("user", "User"), str("event", "Event"), str("error_code", "Error code"),
			str("source_ip", "Source IP"), str("country", "Country"), str("region", "Region")},
		Match:       authzFailure,
		SQL:         recent(`event_time AS time, user_name AS user, event_name AS event, error_code, source_ip, country_name AS country, aws_region AS region`),
		Description: "Calls that failed with AccessDenied* or *UnauthorizedOperation, newest first (at most 500).",
		Drill:       map[string]string{"time": "second", "user": "user_name", "event": "event_name", "error_code": "error_code", "source_ip": "source_ip", "region": "aws_region"},
	},
	{
		ID: "netsec-authz-failures-over-time", Dashboard: "network-security", Title: "Authorization Failures Over Time",
		Kind: "column", Window: 24 * time.Hour,
		Columns:     []column{tim("name", "Hour"), num("value", "Failures")},
		Match:       authzFailure,
		SQL:         `SELECT ` + hourExpr + ` AS name, count() AS value FROM {events} WHERE {filter} AND {match} GROUP BY name ORDER BY name`,
		Description: "Calls that failed with AccessDenied* or *UnauthorizedOperation per hour; name is the start of the hour.",
		Drill:       map[string]string{"name": "hour"},
	},
	{
		ID: "netsec-events-over-time", Dashboard: "network-security", Title: "Network and Security Events Over Time",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Event", "Calls"),
		Match:       `match(event_name, 'Security|Network')`,
		SQL:         hourly("event_name", "count()"),
		Description: "Calls whose name contains Security or Network per hour, one series per event name.",
		Drill:       map[string]string{"time": "hour", "series": "event_name"},
	},
	{
		ID: "netsec-sg-nacl-changes", Dashboard: "network-security", Title: "Recent Security Group and Network ACL Changes",
		Kind: "table", Window: 3 * time.Hour,
		Columns: []column{tim("time", "Time"), str("user", "User"), str("event", "Event"),
			str("target", "Group or ACL"), str("rule", "Rule")},
		Match: `outcome = 'success' AND (` + sgChange + ` OR event_name IN ('CreateNetworkAcl', 'CreateNetworkAclEntry', 'ReplaceNetworkAclEntry', 'ReplaceNetworkAclAssociation'))`,
		SQL: recent(`event_time AS time, user_name AS user, event_name AS event, arrayStringConcat(resource_names, ', ') AS target,
	network_rule AS rule`),
		Description: "Successful security-group ingress and egress authorizations and revocations, network ACL creations and " +
			"entry creations and replacements, newest first (at most 500), with the rule: protocol, ports, addresses, allow or deny. " +
			"The seed product shows ingress authorizations and ACL creations only. Each security-group permission shows its protocol, ports and the addresses, groups and prefix lists it names.",
		Drill: map[string]string{"time": "second", "user": "user_name", "event": "event_name"},
	},
	{
		ID: "netsec-nacl-allow-all", Dashboard: "network-security", Title: "Network ACL with All Allowed Ingress/Egress",
		Kind: "table", Window: 24 * time.Hour,
		Columns: []column{tim("time", "Time"), str("user", "User"), str("event", "Event"), str("network_acl", "Network ACL"),
			num("rule_number", "Rule"), str("direction", "Direction"), str("cidr", "CIDR"), str("account_id", "Account"), str("aws_region", "Region")},
		Match: naclAllowAll,
		SQL: recent(`event_time AS time, user_name AS user, event_name AS event, arrayStringConcat(resource_names, ', ') AS network_acl,
	toInt64(extract(network_rule, '^#([0-9]+)')) AS rule_number, extract(network_rule, '^#[0-9]+ ([a-z]+)') AS direction,
	extract(network_rule, ' (?:from|to) ([^ ]+) allow$') AS cidr, account_id, aws_region`),
		Description: "Network ACL entries created or replaced that allow every protocol (-1) from or to 0.0.0.0/0 or ::/0, " +
			"inbound and outbound, newest first. The seed product reads only the second grant of a request; we read the entry itself.",
		Drill: map[string]string{"time": "second", "user": "user_name", "event": "event_name", "account_id": "account_id", "aws_region": "aws_region"},
	},
	in("network-security", "netsec-created-deleted", netsecCreatedDeleted),
	{
		ID: "netsec-short-lived", Dashboard: "network-security", Title: "Short Lived Critical Operations",
		Kind: "table", Window: 24 * time.Hour,
		Columns: []column{str("object_type", "Type"), str("object_name", "Name"), str("creator", "Created by"), str("deleter", "Deleted by"),
			tim("created", "Created"), tim("deleted", "Deleted"), num("seconds_alive", "Seconds alive")},
		Match: shortLived,
		SQL: `SELECT resource_type AS object_type, resource_name AS object_name, actors[1] AS creator, actors[2] AS deleter,
	first_time AS created, last_time AS deleted, toInt64(last_time) - toInt64(first_time) AS seconds_alive
FROM {detections} WHERE rule_id = 'short-lived-iam-object' AND first_time >= @from AND first_time < @to AND {detection_filter}
ORDER BY first_time DESC, detection_id LIMIT 500`,
		Description: "IAM users, groups, roles, policies and access keys created and deleted again within 10 minutes (the short-lived-iam-object rule), " +
			"newest creation first. The rule pairs them by event time, in whatever order they arrive, where the seed product's search needs both in one search window. " +
			"Filters select the detections with an event that matches them.",
		Drill: map[string]string{"creator": "user_name"},
	},

	// Operations.
	{
		ID: "ops-action-events", Dashboard: "operations", Title: "Action Events", Kind: "table", Window: time.Hour,
		Columns: []column{str("event", "Event"), str("event_source", "Service"), num("calls", "Calls"),
			num("users", "Users"), num("failures", "Failed")},
		Match: nonRead,
		SQL: `SELECT event_name AS event, event_source, count() AS calls, uniqExactIf(user_name, ` + isUser + `) AS users,
	countIf(outcome = 'failure') AS failures
FROM {events} WHERE {filter} AND {match} GROUP BY event_name, event_source ORDER BY calls DESC, event, event_source LIMIT 500`,
		Description: "Non-read calls (not Get, Describe, List or Head) by event name, most frequent first, with their users and failures.",
		Drill:       map[string]string{"event": "event_name", "event_source": "event_source"},
	},
	{
		ID: "ops-services-over-time", Dashboard: "operations", Title: "Requested AWS Services Over Time",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Service", "Calls"),
		Match:       "1",
		SQL:         hourly("event_source", "count()"),
		Description: "Calls per hour, one series per service (event source).",
		Drill:       map[string]string{"time": "hour", "series": "event_source"},
	},
	{
		ID: "ops-regions-over-time", Dashboard: "operations", Title: "Events by AWS Region",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Region", "Calls"),
		Match:       "1",
		SQL:         hourly("aws_region", "count()"),
		Description: "Calls per hour, one series per AWS region.",
		Drill:       map[string]string{"time": "hour", "series": "aws_region"},
	},
	{
		ID: "ops-eip-recent", Dashboard: "operations", Title: "Recent Elastic IP Address Operations",
		Kind: "table", Window: 3 * time.Hour,
		Columns: []column{tim("time", "Time"), str("user", "User"), str("event", "Event"), str("region", "Region"),
			str("public_ip", "Public IP"), str("allocation_id", "Allocation ID"), str("outcome", "Outcome")},
		Match: `event_name IN ('AllocateAddress', 'AssociateAddress', 'DisassociateAddress', 'ReleaseAddress')`,
		SQL: recent(`event_time AS time, user_name AS user, event_name AS event, aws_region AS region,
	arrayFirst(x -> NOT startsWith(x, 'eip'), resource_names) AS public_ip, arrayFirst(x -> startsWith(x, 'eipalloc-'), resource_names) AS allocation_id, outcome`),
		Description: "Allocate, Associate, Disassociate and Release Address calls, newest first (at most 500), with the address and its allocation ID when the record names them, and whether the call succeeded.",
		Drill:       map[string]string{"time": "second", "user": "user_name", "event": "event_name", "region": "aws_region", "public_ip": "resource_name", "outcome": "outcome"},
	},
	{
		ID: "ops-created-over-time", Dashboard: "operations", Title: "Created Resources Over Time",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Resource", "Created"),
		Match:       created,
		SQL:         hourly(nounExpr, "count()"),
		Description: "Successful Create* and Run* calls per hour, one series per resource noun. The seed product counts failed calls too.",
		Drill:       map[string]string{"time": "hour", "series": "noun"},
	},
	in("operations", "ops-deleted-over-time", deletedResources),

	// Console Logins.
	{
		ID: "logins-geo", Dashboard: "console-logins", Title: "Geo Location of All Users", Kind: "map", Window: 24 * time.Hour, Geolocated: true,
		Columns:     mapColumns(num("successes", "Successes"), num("failures", "Failures")),
		Match:       consoleLogin,
		SQL:         mapSQL(", countIf(outcome = 'success') AS successes, countIf(outcome = 'failure') AS failures"),
		Description: "Console sign-ins (ConsoleLogin) by the location of their source address, with how many succeeded and failed.",
		Drill:       map[string]string{"country_code": "country_code", "city": "city"},
	},
	{
		ID: "logins-by-user", Dashboard: "console-logins", Title: "Login Events By User", Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("User and result", "Logins"),
		Match:       consoleLogin,
		SQL:         hourly(`concat(`+userLabel+`, ' (', outcome, ')')`, "count()"),
		Description: "Console sign-ins per hour, one series per user and result (\"alice (success)\", \"alice (failure)\"); sign-ins whose user name CloudTrail hid are \"(hidden)\".",
		Drill:       map[string]string{"time": "hour"},
	},
	{
		ID: "logins-over-time", Dashboard: "console-logins", Title: "Logins Over Time", Kind: "line", Window: 24 * time.Hour,
		Columns:     seriesColumns("Result", "Logins"),
		Match:       consoleLogin,
		SQL:         hourly("outcome", "count()"),
		Description: "Console sign-ins per hour, one line for success and one for failure.",
		Drill:       map[string]string{"time": "hour", "series": "outcome"},
	},
	{
		ID: "logins-multiple-ip", Dashboard: "console-logins", Title: "Logins from Multiple IP", Kind: "table", Window: 24 * time.Hour,
		Columns: []column{str("user", "User"), num("distinct_ips", "Distinct IPs"), str("ips", "IP addresses"), num("logins", "Logins")},
		Match:   consoleLogin + " AND " + isUser,
		SQL: `SELECT user_name AS user, uniqExact(source_ip) AS distinct_ips, arrayStringConcat(arraySlice(arraySort(groupUniqArray(source_ip)), 1, 100), ', ') AS ips, count() AS logins
FROM {events} WHERE {filter} AND {match} GROUP BY user_name HAVING distinct_ips > 1 ORDER BY distinct_ips DESC, logins DESC, user LIMIT 500`,
		Description: "Users with console sign-ins from more than one source address, with the addresses (the first 100) and how many sign-ins. Hidden user names are not users.",
		Drill:       map[string]string{"user": "user_name"},
	},
	{
		ID: "logins-outside-country", Dashboard: "console-logins", Title: "Logins from Outside the USA", Kind: "table", Window: 24 * time.Hour,
		Columns: []column{str("user", "User"), str("country_code", "Country code"), str("country", "Country"), str("result", "Result"), num("logins", "Logins")},
		Match:   consoleLogin + ` AND country_code != '' AND NOT {home}`,
		SQL: `SELECT ` + userLabel + ` AS user, country_code, country_name AS country, outcome AS result, count() AS logins
FROM {events} WHERE {filter} AND {match} GROUP BY user, country_code, country_name, result ORDER BY logins DESC, user, country_code, result LIMIT 500`,
		Description: "Console sign-ins from a country that is not one of the home countries (--home-countries, default US), by user, country and result. " +
			"Addresses with no known country (private, AWS-internal) are left out.",
		Drill: map[string]string{"country_code": "country_code", "result": "outcome"},
	},
	{
		ID: "logins-outlier-success", Dashboard: "console-logins", Title: "Outlier - Success Login", Kind: "outlier-line", Window: 24 * time.Hour,
		Columns:     outlierColumns,
		Match:       consoleLogin + ` AND outcome = 'success'`,
		SQL:         outlierSQL,
		Description: "Successful console sign-ins" + outlierDescription,
		Drill:       map[string]string{"time": "hour"},
	},
	{
		ID: "logins-time-compare", Dashboard: "console-logins", Title: "Login Results - One Day Time Compare", Kind: "table", Window: 24 * time.Hour,
		Columns: []column{str("result", "Result"), num("current", "In the window"), num("day_earlier", "A day earlier"), num("change", "Change")},
		Match:   consoleLogin,
		SQL: `SELECT result, sum(cur) AS current, sum(prev) AS day_earlier, toInt64(sum(cur)) - toInt64(sum(prev)) AS change FROM (
	SELECT outcome AS result, toUInt64(event_time >= @from AND event_time < @to) AS cur,
		toUInt64(event_time >= @from - 86400 AND event_time < @to - 86400) AS prev
	FROM {events} WHERE {dims} AND {match}
		AND (event_time >= @from AND event_time < @to OR event_time >= @from - 86400 AND event_time < @to - 86400)
	UNION ALL SELECT 'success', toUInt64(0), toUInt64(0)
	UNION ALL SELECT 'failure', toUInt64(0), toUInt64(0)
) GROUP BY result ORDER BY result DESC`,
		Description: "Console sign-ins by result: how many in the window, how many in the same window a day earlier, and the change; both results are always listed.",
		Drill:       map[string]string{"result": "outcome"},
	},
	{
		ID: "logins-outlier-failure", Dashboard: "console-logins", Title: "Outlier - Failed Login", Kind: "outlier-line", Window: 24 * time.Hour,
		Columns:     outlierColumns,
		Match:       consoleLogin + ` AND outcome = 'failure'`,
		SQL:         outlierSQL,
		Description: "Failed console sign-ins" + outlierDescription,
		Drill:       map[string]string{"time": "hour"},
	},
	{
		ID: "logins-without-mfa", Dashboard: "console-logins", Title: "Logins without MFA", Kind: "table", Window: 24 * time.Hour,
		Columns: []column{str("user", "User"), str("result", "Result"), num("logins", "Logins")},
		Match:   consoleLogin + ` AND mfa_used = 0 AND session_mfa = 0`,
		SQL: `SELECT ` + userLabel + ` AS user, outcome AS result, count() AS logins
FROM {events} WHERE {filter} AND {match} GROUP BY user, result ORDER BY logins DESC, user, result LIMIT 500`,
		Description: "Console sign-ins where neither the sign-in (MFAUsed) nor the session (mfaAuthenticated) used MFA, by user and result. " +
			"The seed product reads MFAUsed only, so a session that signed in with MFA through a role counts there as without.",
		Drill: map[string]string{"result": "outcome"},
	},

	// S3 Public Objects and Buckets.
	{
		ID: "s3-new-public-objects", Dashboard: "s3-public", Title: "New Public Objects", Kind: "single", Window: 24 * time.Hour,
		Columns: []column{num("value", "Objects")},
		Match:   publicObjectNew,
		SQL:     single("uniqExact(" + objectName + ")"),
		Description: "Distinct objects written public: a successful PutObject, CopyObject or CreateMultipartUpload with a public canned ACL " +
			"(public-read, public-read-write, authenticated-read) or any grant to AllUsers or AuthenticatedUsers. " +
			"The seed product reads only the second grant of a request; we read every grant.",
	},
	{
		ID: "s3-new-public-objects-over-time", Dashboard: "s3-public", Title: "New Public Objects by Object-Bucket",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Bucket/object", "Writes"),
		Match:       publicObjectNew,
		SQL:         hourly(objectName, "count()"),
		Description: "Writes of public objects per hour, one series per bucket/key.",
		Drill:       map[string]string{"time": "hour", "series": "resource_name"},
	},
	{
		ID: "s3-new-public-objects-table", Dashboard: "s3-public", Title: "New Public Objects Table", Kind: "table", Window: 24 * time.Hour,
		Columns:     objectTable.columns,
		Match:       publicObjectNew,
		SQL:         objectTable.sql,
		Description: "Objects written public, newest first (at most 500).",
		Drill:       objectTable.drill,
	},
	{
		ID: "s3-public-buckets", Dashboard: "s3-public", Title: "Public Buckets", Kind: "single", Window: 24 * time.Hour,
		Columns: []column{num("value", "Buckets")},
		Match:   publicBucket,
		SQL:     single("uniqExact(" + objectName + ")"),
		Description: "Distinct buckets made public: an ACL or canned ACL granting AllUsers or AuthenticatedUsers (PutBucketAcl, CreateBucket), " +
			"a bucket policy allowing Principal * that no condition confines, or the bucket's public access block removed or weakened. " +
			"The seed product reads only the second grant of an ACL and no policies or access blocks.",
	},
	{
		ID: "s3-public-buckets-over-time", Dashboard: "s3-public", Title: "Public Buckets", Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Bucket", "Changes"),
		Match:       publicBucket,
		SQL:         hourly(objectName, "count()"),
		Description: "Changes making a bucket public per hour, one series per bucket.",
		Drill:       map[string]string{"time": "hour", "series": "resource_name"},
	},
	{
		ID: "s3-public-buckets-table", Dashboard: "s3-public", Title: "Public Buckets Table", Kind: "table", Window: 24 * time.Hour,
		Columns: []column{tim("time", "Time"), str("bucket", "Bucket"), str("how", "How"), str("account_id", "Account"),
			str("aws_region", "Region"), str("user", "User"), str("access_key_id", "Access key ID")},
		Match: publicBucket,
		SQL: recent(`event_time AS time, ` + objectName + ` AS bucket,
	multiIf(event_name = 'PutBucketPolicy', 'policy', event_name IN ('PutBucketAcl', 'CreateBucket'), 'acl', 'access block') AS how,
	account_id, aws_region, user_name AS user, access_key_id`),
		Description: "Changes making a bucket public, newest first (at most 500), with how: acl, policy or access block.",
		Drill:       map[string]string{"time": "second", "bucket": "resource_name", "account_id": "account_id", "aws_region": "aws_region", "user": "user_name", "access_key_id": "access_key_id"},
	},
	{
		ID: "s3-modified-public-objects", Dashboard: "s3-public", Title: "Modified Public Objects", Kind: "single", Window: 24 * time.Hour,
		Columns:     []column{num("value", "Objects")},
		Match:       publicObjectACL,
		SQL:         single("uniqExact(" + objectName + ")"),
		Description: "Distinct existing objects made public by a successful PutObjectAcl (canned ACL or any grant to AllUsers or AuthenticatedUsers).",
	},
	{
		ID: "s3-modified-public-objects-over-time", Dashboard: "s3-public", Title: "Modified Public Objects-Bucket",
		Kind: "stacked-column", Window: 24 * time.Hour,
		Columns:     seriesColumns("Bucket/object", "Changes"),
		Match:       publicObjectACL,
		SQL:         hourly(objectName, "count()"),
		Description: "Object ACLs changed to public per hour, one series per bucket/key.",
		Drill:       map[string]string{"time": "hour", "series": "resource_name"},
	},
	{
		ID: "s3-modified-public-objects-table", Dashboard: "s3-public", Title: "Modified Public Objects Table", Kind: "table", Window: 24 * time.Hour,
		Columns:     objectTable.columns,
		Match:       publicObjectACL,
		SQL:         objectTable.sql,
		Description: "Object ACLs changed to public, newest first (at most 500).",
		Drill:       objectTable.drill,
	},
}
