package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// The console sign-in rules. They read the ConsoleLogin events of signin.amazonaws.com as
// the normalizer renders them: login_result (success or failure), mfa_used, user_type, the
// user name (empty, with user_name_hidden, when CloudTrail hid a mistyped name) and the
// country of the source IP.

// Sign-in fields shared by the rules of this file and root.go.
const (
	signinSource = "signin.amazonaws.com"
	consoleLogin = "ConsoleLogin"
)

// isConsoleLogin reports whether e is a console sign-in attempt, whoever signs in: an IAM
// user, root, or a federated or Identity Center user on the AWS console.
func isConsoleLogin(e *model.Event) bool {
	return e.EventName == consoleLogin && e.EventSource == signinSource
}

// signedIn reports whether e is a successful console sign-in.
func signedIn(e *model.Event) bool { return isConsoleLogin(e) && e.LoginResult == "success" }

// signInFailed reports whether e is a failed console sign-in.
func signInFailed(e *model.Event) bool { return isConsoleLogin(e) && e.LoginResult == "failure" }

// signInKey names whom a sign-in tried: the user name, or "ip:" and the source IP when
// CloudTrail hid the name; "" when it knows neither.
func signInKey(e *model.Event) string {
	switch {
	case e.UserName != "":
		return e.UserName
	case e.SourceIP != "":
		return "ip:" + e.SourceIP
	}
	return ""
}

// signInResource is the object of a sign-in detection: the user, or the source IP when the
// name is hidden.
func signInResource(e *model.Event) (typ, name string) {
	if e.UserName != "" {
		return "user", e.UserName
	}
	return "source-ip", e.SourceIP
}

// signInSubject names the user of a sign-in in a title.
func signInSubject(e *model.Event) string {
	if e.UserName != "" {
		return e.UserName
	}
	return "a hidden user name"
}

// sourcePlace names where an event came from in a title: "81.2.69.160 (GB)", or the IP alone.
func sourcePlace(e *model.Event) string {
	if e.CountryCode == "" {
		return e.SourceIP
	}
	return e.SourceIP + " (" + e.CountryCode + ")"
}

// mfaCredential reports whether an Identity Center credential type is a second factor.
func mfaCredential(typ string) bool { return typ != "" && !strings.EqualFold(typ, "PASSWORD") }

// distinctValues returns the distinct non-empty values of f over hits, in their order, at
// most limit of them.
func distinctValues(hits []Hit, f func(Hit) string, limit int) []string {
	var out []string
	for _, h := range hits {
		if v := f(h); v != "" && !slices.Contains(out, v) && len(out) < limit {
			out = append(out, v)
		}
	}
	return out
}

// sliceName renders an outlier's slice in a title: "hour", else the duration.
func sliceName(d time.Duration) string {
	if d == time.Hour {
		return "hour"
	}
	return d.String()
}

func init() {
	register(loginOutlier("console-login-success-outlier", "success", "successful",
		"An account's successful console sign-ins in one slice (default an hour) exceed the mean + k·σ of the slices "+
			"before: stolen or shared credentials used, or an automated sign-in loop.",
		[]string{"attack.initial-access", "attack.t1078.004"}))
	register(loginOutlier("console-login-failure-outlier", "failure", "failed",
		"An account's failed console sign-ins in one slice (default an hour) exceed the mean + k·σ of the slices "+
			"before: password guessing against the account's users.",
		[]string{"attack.credential-access", "attack.t1110"}))
	register(multipleIPs)
	register(outsideHome)
	register(withoutMFA)
	register(bruteForce)
	register(passwordSpray)
	register(mfaChallengeFailures)
}

// loginOutlier is the outlier rule of the console sign-ins whose login_result is result,
// counted per account.
func loginOutlier(id, result, adjective, description string, tags []string) Builtin {
	return Builtin{
		Meta:   Meta{ID: id, Severity: "medium", Description: description, Tags: tags, Events: []string{consoleLogin}},
		Params: map[string]any{"slice": time.Hour, "history": 10, "k": 3.0, "min": 5},
		New: func(p *Params) Rule {
			return &Outlier{
				Select: func(in *Input) bool { return isConsoleLogin(in.Event) && in.Event.LoginResult == result },
				Key:    func(*Input) string { return "" },
				Slice:  p.Duration("slice"), History: p.Int("history"), K: p.Float("k"), Min: p.Int("min"),
				Seed: &Seed{Where: "event_name = '" + consoleLogin + "' AND event_source = '" + signinSource +
					"' AND login_result = '" + result + "'"},
				Describe: func(o *OutlierTally) Finding {
					account := o.Hits[0].Account
					return Finding{
						Title: fmt.Sprintf("%d %s console sign-ins in account %s in the %s from %s, above the band of %.1f",
							o.Count, adjective, account, sliceName(o.Slice), o.Start.Format("2006-01-02 15:04 MST"), o.Band),
						ResourceType: "account", ResourceName: account,
						Context: map[string]any{
							"count": o.Count, "mean": o.Mean, "sigma": o.Sigma, "band": o.Band,
							"slice": o.Slice.String(), "slice_start": o.Start.Format(time.RFC3339),
							"history": p.Int("history"), "k": p.Float("k"), "min": p.Int("min"),
							"users": distinctValues(o.Hits, func(h Hit) string { return h.User }, 10),
						},
					}
				},
			}
		},
	}
}

var multipleIPs = Builtin{
	Meta: Meta{ID: "console-login-multiple-ips", Severity: "medium",
		Description: "One user signs in to the console from several IP addresses (default 3) or several countries " +
			"(default 2) within an hour: a password shared, or used by someone else at the same time.",
		Tags:   []string{"attack.initial-access", "attack.t1078.004"},
		Events: []string{consoleLogin}},
	Params: map[string]any{"window": time.Hour, "ips": 3, "countries": 2},
	New: func(p *Params) Rule {
		user := func(in *Input) string { return in.Event.UserName }
		window := p.Duration("window")
		byIP := &Threshold{
			Select:   func(in *Input) bool { return signedIn(in.Event) && in.Event.SourceIP != "" },
			Key:      user,
			Distinct: func(in *Input) string { return in.Event.SourceIP },
			Count:    p.Int("ips"), Window: window,
			Describe: func(t *Tally) Finding { return describeSpread(t, "IP addresses", "ips") },
		}
		byCountry := &Threshold{
			Select:   func(in *Input) bool { return signedIn(in.Event) && in.Event.CountryCode != "" },
			Key:      user,
			Distinct: func(in *Input) string { return in.Event.CountryCode },
			Count:    p.Int("countries"), Window: window,
			Describe: func(t *Tally) Finding { return describeSpread(t, "countries", "countries") },
		}
		// Three IPs in two countries are one finding, not two.
		return &Any{Rules: []Rule{byIP, byCountry}, Dedup: &Dedup{Key: user, Period: window}}
	},
}

// describeSpread is the finding of a user's sign-ins from len(t.Distinct) IPs or countries.
func describeSpread(t *Tally, what, key string) Finding {
	return Finding{
		Title: fmt.Sprintf("%s signed in to the console from %d %s within %s (%s)", t.Key, len(t.Distinct), what, t.Window,
			strings.Join(t.Distinct, ", ")),
		ResourceType: "user", ResourceName: t.Key,
		Context: map[string]any{key: t.Distinct, "sign_ins": len(t.Hits), "window": t.Window.String(), "threshold": t.Count},
	}
}

var outsideHome = Builtin{
	Meta: Meta{ID: "console-login-outside-home-countries", Severity: "medium",
		Description: "A console sign-in, successful or not, from a country outside the home countries (default US); " +
			"high when an administrator signs in. Reported once per user, country and result per hour.",
		Tags:   []string{"attack.initial-access", "attack.t1078.004"},
		Events: []string{consoleLogin}},
	Params: map[string]any{"dedup": time.Hour},
	New: func(p *Params) Rule {
		home := p.HomeCountries
		if len(home) == 0 {
			home = []string{"US"}
		}
		return &Match{
			When: func(in *Input) (Finding, bool) {
				e := in.Event
				if !isConsoleLogin(e) || e.LoginResult == "" || e.CountryCode == "" || p.HomeCountry(e.CountryCode) {
					return Finding{}, false
				}
				f := Finding{
					Title: fmt.Sprintf("failed console sign-in for %s from %s in %s", signInSubject(e), e.SourceIP, e.CountryName),
					Context: map[string]any{"country": e.CountryCode, "source_ip": e.SourceIP, "result": e.LoginResult,
						"home_countries": home, "admin": e.IsAdmin},
				}
				if e.LoginResult == "success" {
					f.Title = fmt.Sprintf("%s signed in to the console from %s in %s", e.UserName, e.SourceIP, e.CountryName)
					if e.IsAdmin {
						f.Severity = "high"
					}
				}
				f.ResourceType, f.ResourceName = signInResource(e)
				return f, true
			},
			Dedup: &Dedup{Period: p.Duration("dedup"), Key: func(in *Input) string {
				e := in.Event
				return signInKey(e) + "\x00" + e.CountryCode + "\x00" + e.LoginResult
			}},
		}
	},
}

var withoutMFA = Builtin{
	Meta: Meta{ID: "console-login-without-mfa", Severity: "high",
		Description: "An IAM user or root signs in to the console without MFA: a password alone stands between the " +
			"account and whoever holds it. Federated and Identity Center sign-ins, whose MFA the identity provider " +
			"enforces, are left out. Reported once per user per hour.",
		Tags:   []string{"attack.initial-access", "attack.persistence", "attack.t1078.004"},
		Events: []string{consoleLogin}},
	Params: map[string]any{"dedup": time.Hour},
	New: func(p *Params) Rule {
		return &Match{
			When: func(in *Input) (Finding, bool) {
				e := in.Event
				if !signedIn(e) || e.MFAUsed || (e.UserType != "IAMUser" && e.UserType != "Root") {
					return Finding{}, false
				}
				return Finding{
					Title:        fmt.Sprintf("%s signed in to the console without MFA from %s", e.UserName, sourcePlace(e)),
					ResourceType: "user", ResourceName: e.UserName,
					Context: map[string]any{"user_type": e.UserType, "source_ip": e.SourceIP, "country": e.CountryCode},
				}, true
			},
			Dedup: &Dedup{Period: p.Duration("dedup"), Key: func(in *Input) string { return in.Event.UserName }},
		}
	},
}

var bruteForce = Builtin{
	Meta: Meta{ID: "console-login-brute-force", Severity: "medium",
		Description: "Many failed console sign-ins (default 10 in 10 minutes) for one user, or from one source IP when " +
			"CloudTrail hides the user name; high when a successful sign-in follows within 30 minutes: the password " +
			"was guessed.",
		Tags:   []string{"attack.credential-access", "attack.t1110.001"},
		Events: []string{consoleLogin}},
	Params: map[string]any{"window": 10 * time.Minute, "count": 10, "success_within": 30 * time.Minute},
	New: func(p *Params) Rule {
		// A success from the guessing IP follows failures of hidden names, so they are
		// keyed by IP; known names by user. A failure goes to one of the two.
		threshold := func(byIP bool, key func(in *Input) string) *Threshold {
			describe := func(t *Tally) Finding { return describeBruteForce(t, byIP) }
			return &Threshold{
				Select:   func(in *Input) bool { return signInFailed(in.Event) && (in.Event.UserName == "") == byIP },
				Key:      key,
				Count:    p.Int("count"),
				Window:   p.Duration("window"),
				Describe: describe,
				Escalate: &Escalation{
					Select:   func(in *Input) bool { return signedIn(in.Event) },
					Within:   p.Duration("success_within"),
					Severity: "high",
					Describe: func(t *Tally, followed Hit) Finding {
						f := describe(t)
						f.Title += fmt.Sprintf(", then %s signed in %s after the last", followed.User, followed.Time.Sub(t.Hits[len(t.Hits)-1].Time))
						f.Context["success_event"], f.Context["success_user"] = followed.ID, followed.User
						f.Context["success_within"] = p.Duration("success_within").String()
						return f
					},
				},
			}
		}
		byUser := threshold(false, func(in *Input) string { return in.Event.UserName })
		byIP := threshold(true, func(in *Input) string { return in.Event.SourceIP })
		return &Any{Rules: []Rule{byUser, byIP}}
	},
}

// describeBruteForce is the finding of a window of failed sign-ins of t.Key: a user name,
// or the source IP of failures whose names were hidden.
func describeBruteForce(t *Tally, byIP bool) Finding {
	f := Finding{ResourceType: "user", ResourceName: t.Key,
		Title:   fmt.Sprintf("%d failed console sign-ins for %s within %s", len(t.Hits), t.Key, t.Window),
		Context: map[string]any{"failures": len(t.Hits), "threshold": t.Count, "window": t.Window.String()}}
	if byIP {
		f.ResourceType = "source-ip"
		f.Title = fmt.Sprintf("%d failed console sign-ins with hidden user names from %s within %s", len(t.Hits), t.Key, t.Window)
	}
	return f
}

var passwordSpray = Builtin{
	Meta: Meta{ID: "console-password-spray", Severity: "medium",
		Description: "One source IP fails to sign in to the console as many different users (default 5 in an hour): " +
			"a password tried against a list of names. Hidden (mistyped or unknown) names cannot be told apart and " +
			"do not count.",
		Tags:   []string{"attack.credential-access", "attack.t1110.003"},
		Events: []string{consoleLogin}},
	Params: map[string]any{"window": time.Hour, "users": 5},
	New: func(p *Params) Rule {
		return &Threshold{
			Select:   func(in *Input) bool { return signInFailed(in.Event) && in.Event.UserName != "" },
			Key:      func(in *Input) string { return in.Event.SourceIP },
			Distinct: func(in *Input) string { return in.Event.UserName },
			Count:    p.Int("users"),
			Window:   p.Duration("window"),
			Describe: func(t *Tally) Finding {
				return Finding{
					Title:        fmt.Sprintf("%s failed console sign-ins as %d users within %s", t.Key, len(t.Distinct), t.Window),
					ResourceType: "source-ip", ResourceName: t.Key,
					Context: map[string]any{"users": t.Distinct, "threshold": t.Count, "window": t.Window.String()},
				}
			},
		}
	},
}

var mfaChallengeFailures = Builtin{
	Meta: Meta{ID: "mfa-challenge-failures", Severity: "high",
		Description: "Repeated failed MFA challenges for one user (default 2 in 15 minutes), on the console (CheckMfa) " +
			"or in an Identity Center sign-in: someone who has the password is trying to get past the second factor.",
		Tags:   []string{"attack.credential-access", "attack.t1110", "attack.t1621"},
		Events: []string{"CheckMfa", "CredentialVerification"}},
	Params: map[string]any{"window": 15 * time.Minute, "count": 2},
	New: func(p *Params) Rule {
		return &Threshold{
			Select: func(in *Input) bool {
				e := in.Event
				if e.LoginResult != "failure" {
					return false
				}
				switch e.EventName {
				case "CheckMfa":
					return true
				case "CredentialVerification":
					return mfaCredential(in.Str("additionalEventData.CredentialType"))
				}
				return false
			},
			Key:    func(in *Input) string { return in.Event.UserName },
			Count:  p.Int("count"),
			Window: p.Duration("window"),
			Describe: func(t *Tally) Finding {
				return Finding{
					Title:        fmt.Sprintf("%d failed MFA challenges for %s within %s", len(t.Hits), t.Key, t.Window),
					ResourceType: "user", ResourceName: t.Key,
					Context: map[string]any{"failures": len(t.Hits), "threshold": t.Count, "window": t.Window.String()},
				}
			},
		}
	},
}
