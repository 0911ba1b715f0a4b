package detector

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// login returns a console sign-in of alice in account 111122223333 at t.
func login(t *testing.T, id string, at time.Time, region string) *model.Event {
	t.Helper()
	rec := fmt.Sprintf(`{"eventVersion":"1.08","eventID":%q,"eventTime":%q,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
		"awsRegion":%q,"sourceIPAddress":"81.2.69.160","recipientAccountId":"111122223333",
		"userIdentity":{"type":"IAMUser","accountId":"111122223333","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice"},
		"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}`, id, at.UTC().Format(time.RFC3339), region)
	e, err := normalize.Normalize([]byte(rec), "test")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSeed stores twelve hours of three sign-ins an hour in ClickHouse, seeds an outlier and
// a baseline rule from them, and checks that both judge at once what a fresh rule, which
// knows no past, would not: six sign-ins in the next hour cross the band mean 3 + 3·0 at
// the fifth (the minimum), and a region unused in the stored days is new.
func TestSeed(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour) // the start of the judged hour
	var stored []*model.Event
	for h := 12; h >= 1; h-- {
		for i := range 3 {
			stored = append(stored, login(t, fmt.Sprintf("past-%d-%d", h, i), now.Add(-time.Duration(h)*time.Hour+time.Duration(i)*time.Minute), "us-east-1"))
		}
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+c.ClickHouseDatabase+".events ("+strings.Join(model.EventFields(), ", ")+")")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range stored {
		if err := b.Append(e.Values(nil)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	makeRules := func() (*rules.Outlier, *rules.Baseline) {
		o := &rules.Outlier{Meta: rules.Meta{ID: "o", Severity: "medium"},
			Select: func(in *rules.Input) bool { return in.Event.LoginResult == "success" },
			Key:    func(*rules.Input) string { return "" },
			Seed:   &rules.Seed{Where: "event_name = 'ConsoleLogin' AND login_result = 'success'"},
			Describe: func(o *rules.OutlierTally) rules.Finding {
				return rules.Finding{Title: fmt.Sprintf("%d %g %g", o.Count, o.Mean, o.Sigma)}
			},
		}
		bl := &rules.Baseline{Meta: rules.Meta{ID: "b", Severity: "medium"},
			Select:   func(*rules.Input) bool { return true },
			Key:      func(*rules.Input) string { return "" },
			Value:    func(in *rules.Input) string { return in.Event.AWSRegion },
			Learn:    6 * time.Hour,
			Seed:     &rules.Seed{Where: "1", Value: "aws_region"},
			Describe: func(in *rules.Input, v string, _ time.Time) rules.Finding { return rules.Finding{Title: "new " + v} },
		}
		return o, bl
	}
	judged := []*model.Event{login(t, "eu", now.Add(time.Minute), "eu-west-1"), login(t, "us", now.Add(2*time.Minute), "us-east-1")}
	for i := range 6 {
		judged = append(judged, login(t, fmt.Sprintf("now-%d", i), now.Add(time.Duration(10+i)*time.Minute), "us-east-1"))
	}
	run := func(seeded bool) []string {
		o, bl := makeRules()
		engine := rules.NewEngine([]rules.Rule{o, bl})
		if seeded {
			n, err := Seed(ctx, conn, c.ClickHouseDatabase+".events", engine.Seeders(), now)
			if err != nil {
				t.Fatal(err)
			}
			if n != 11+1 { // the counts of the 11 hours the band and a late slice reach, 1 region
				t.Errorf("seeded %d rows, want 12", n)
			}
		}
		var got []string
		for i, e := range judged {
			for _, d := range engine.Observe(e, rules.Position{Offset: int64(i)}) {
				got = append(got, d.RuleID+": "+d.Title+" at "+e.EventID)
			}
		}
		return got
	}
	if got, want := strings.Join(run(true), "; "), "b: new eu-west-1 at eu; o: 5 3 0 at now-2"; got != want {
		t.Errorf("seeded rules: %s\nwant %s", got, want)
	}
	if got := run(false); len(got) != 0 {
		t.Errorf("rules without a past reported %v, want nothing before they have watched the account", got)
	}
}

// TestBuiltinSeedsAgree stores two generated days in ClickHouse and checks, for every
// built-in rule with a Seed, that its SQL reads back what its Go code picks from the same
// events: the outliers' counts per account, key and slice, the baselines' last time per
// value. A Seed whose condition drifts from its rule's Select fails here.
func TestBuiltinSeedsAgree(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var events []*model.Event
	for r := range generate.Records(generate.Options{Events: 20000, Seed: 5, Start: now.Add(-48 * time.Hour), Span: 48 * time.Hour}) {
		e, err := normalize.Normalize(r.JSON, "test")
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+c.ClickHouseDatabase+".events ("+strings.Join(model.EventFields(), ", ")+")")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := b.Append(e.Values(nil)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	seeders := rules.NewEngine(rules.Default()).Seeders()
	if len(seeders) < 3 {
		t.Fatalf("%d built-in rules with a seed, want at least the two sign-in outliers and new-region-activity", len(seeders))
	}
	for _, s := range seeders {
		t.Run(s.Info().ID, func(t *testing.T) {
			want := map[string]uint64{}
			for i, e := range events {
				in := rules.NewInput(e, rules.Position{Offset: int64(i)}, e.EventTime)
				switch r := s.(type) {
				case *rules.Outlier:
					slice := e.EventTime.Truncate(r.Slice)
					if r.Select(in) && !slice.Before(now.Truncate(r.Slice).Add(-time.Duration(r.History+1)*r.Slice)) {
						want[fmt.Sprintf("%s/%s/%d", e.AccountID, r.Key(in), slice.Unix())]++
					}
				case *rules.Baseline:
					if r.Select(in) && r.Value(in) != "" && !e.EventTime.Before(now.Add(-r.Period)) {
						k := e.AccountID + "/" + r.Key(in) + "/" + r.Value(in)
						want[k] = max(want[k], uint64(e.EventTime.Unix()))
					}
				default:
					t.Fatalf("a seeder of type %T", s)
				}
			}
			got := map[string]uint64{}
			rows, err := conn.Query(ctx, s.SeedSQL(c.ClickHouseDatabase+".events", now))
			if err != nil {
				t.Fatalf("%v\n%s", err, s.SeedSQL(c.ClickHouseDatabase+".events", now))
			}
			defer rows.Close()
			for rows.Next() {
				var acct, key, value string
				var at time.Time
				var n uint64
				if err := rows.Scan(&acct, &key, &value, &at, &n); err != nil {
					t.Fatal(err)
				}
				if _, ok := s.(*rules.Outlier); ok {
					got[fmt.Sprintf("%s/%s/%d", acct, key, at.Unix())] = n
				} else {
					got[acct+"/"+key+"/"+value] = uint64(at.Unix())
				}
			}
			if len(want) == 0 {
				t.Fatal("the generated days hold no event the rule picks: nothing is compared")
			}
			if !maps.Equal(got, want) {
				t.Errorf("the seed's SQL read %d rows, the rule's Go code picks %d:\n got %v\nwant %v", len(got), len(want), got, want)
			}
		})
	}
}
