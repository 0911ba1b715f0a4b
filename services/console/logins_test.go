package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/trailstream/trailstream/services/console"
)

// TestConsoleLogins checks the Console Logins panels on testdata/logins.jsonl: alice signs in
// once an hour from London with MFA from 13 to 4 hours ago, then a burst of five sign-ins
// three hours ago; failures come two and one hour ago; a day earlier there were two
// successes and four failures.
func TestConsoleLogins(t *testing.T) {
	f := loadFixture(t, "logins.jsonl")
	day := f.day()
	last3 := url.Values{"from": {f.h(-3)}, "to": {f.h(0)}}

	var byUser, overTime [][]any
	for k := 13; k >= 4; k-- {
		byUser = append(byUser, []any{f.h(-k), "alice (success)", 1.0})
		overTime = append(overTime, []any{f.h(-k), "success", 1.0})
	}
	byUser = append(byUser,
		[]any{f.h(-3), "alice (success)", 2.0}, []any{f.h(-3), "bob (success)", 2.0}, []any{f.h(-3), "carol (success)", 1.0},
		[]any{f.h(-2), "(hidden) (failure)", 1.0}, []any{f.h(-2), "bob (failure)", 1.0}, []any{f.h(-2), "dave (success)", 1.0},
		[]any{f.h(-1), "erin (failure)", 1.0})
	overTime = append(overTime,
		[]any{f.h(-3), "success", 5.0}, []any{f.h(-2), "failure", 2.0}, []any{f.h(-2), "success", 1.0}, []any{f.h(-1), "failure", 1.0})

	f.check(t, []panelCase{
		// Sign-ins by location with successes and failures; erin's private address has no
		// location, CheckMfa is no sign-in, l13 delivered twice counts once.
		{"geo", "logins-geo", day, [][]any{
			at(london, 12, "London", 12.0, 0.0), at(unitedStates, 2, "", 1.0, 1.0), at(amsterdam, 1, "Amsterdam", 1.0, 0.0),
			at(berlin, 1, "Berlin", 1.0, 0.0), at(paris, 1, "Paris", 0.0, 1.0), at(tokyo, 1, "Tokyo", 1.0, 0.0)}},
		{"by user", "logins-by-user", day, byUser},
		{"over time", "logins-over-time", day, overTime},
		{"over time of failures", "logins-over-time", with(day, "outcome", "failure"), [][]any{
			{f.h(-2), "failure", 2.0}, {f.h(-1), "failure", 1.0}}},
		// bob signed in from two addresses; the hidden user name is nobody's.
		{"multiple IPs", "logins-multiple-ip", day, [][]any{{"bob", 2.0, "8.8.8.8, 91.198.174.192", 3.0}}},
		{"outside the home country", "logins-outside-country", day, [][]any{
			{"alice", "GB", "United Kingdom", "success", 12.0}, {"(hidden)", "FR", "France", "failure", 1.0},
			{"bob", "NL", "Netherlands", "success", 1.0}, {"carol", "DE", "Germany", "success", 1.0},
			{"dave", "JP", "Japan", "success", 1.0}}},
		// The band of each point is mean ± 3σ of the ten hours before it: ten 1s (σ 0) put the
		// burst of 5 outside; nine 1s and a 5 give mean 1.4, σ 1.2.
		{"outlier of successes", "logins-outlier-success", last3, [][]any{
			{f.h(-3), 5.0, 1.0, 1.0, 1.0, true},
			{f.h(-2), 1.0, 1.4, -2.2, 5.0, false},
			{f.h(-1), 0.0, 1.4, -2.2, 5.0, false}}},
		// Ten empty hours put the two failures outside a band of 0; nine 0s and a 2 give
		// mean 0.2, σ 0.6.
		{"outlier of failures", "logins-outlier-failure", last3, [][]any{
			{f.h(-3), 0.0, 0.0, 0.0, 0.0, false},
			{f.h(-2), 2.0, 0.0, 0.0, 0.0, true},
			{f.h(-1), 1.0, 0.2, -1.6, 2.0, false}}},
		{"outlier of failures of bob", "logins-outlier-failure", with(last3, "user_name", "bob"), [][]any{
			{f.h(-3), 0.0, 0.0, 0.0, 0.0, false},
			{f.h(-2), 1.0, 0.0, 0.0, 0.0, true},
			{f.h(-1), 0.0, 0.1, -0.8, 1.0, false}}},
		{"day over day", "logins-time-compare", last3, [][]any{{"success", 6.0, 2.0, 4.0}, {"failure", 3.0, 4.0, -1.0}}},
		{"day over day by default", "logins-time-compare", nil, [][]any{{"success", 16.0, 2.0, 14.0}, {"failure", 3.0, 4.0, -1.0}}},
		{"day over day of nobody", "logins-time-compare", with(last3, "user_name", "nobody"), [][]any{{"success", 0.0, 0.0, 0.0}, {"failure", 0.0, 0.0, 0.0}}},
		// Neither MFAUsed nor an MFA session: not alice (MFA), not carol (her role session
		// signed in with MFA).
		{"without MFA", "logins-without-mfa", day, [][]any{
			{"bob", "success", 2.0}, {"(hidden)", "failure", 1.0}, {"bob", "failure", 1.0},
			{"dave", "success", 1.0}, {"erin", "failure", 1.0}}},
	})

	// Every hour of the default window is a point, the empty ones too.
	a := get(t, f.srv.URL, "/api/panels/logins-outlier-success", http.StatusOK)
	if len(a.Rows) != 25 || a.Rows[0][0] != f.h(-24) || a.Rows[24][0] != f.h(0) || a.Rows[24][1] != 0.0 {
		t.Errorf("outlier line of the last 24 hours: %d points, from %v to %v", len(a.Rows), a.Rows[0], a.Rows[len(a.Rows)-1])
	}

	// With the United Kingdom a home country too, alice's sign-ins are not from abroad.
	home := httptest.NewServer(console.Handler(f.conn, f.db, console.Options{HomeCountries: []string{"US", "GB"}}))
	defer home.Close()
	a = get(t, home.URL, "/api/panels/logins-outside-country?"+day.Encode(), http.StatusOK)
	if want := 4; len(a.Rows) != want || a.Rows[0][0] != "(hidden)" {
		t.Errorf("outside US and GB: %v, want the four sign-ins from FR, NL, DE and JP", a.Rows)
	}
	none := httptest.NewServer(console.Handler(f.conn, f.db, console.Options{}))
	defer none.Close()
	if a = get(t, none.URL, "/api/panels/logins-outside-country?"+day.Encode(), http.StatusOK); len(a.Rows) != 7 {
		t.Errorf("with no home country: %v, want every group of a known country, bob's two from the US too", a.Rows)
	}
}
