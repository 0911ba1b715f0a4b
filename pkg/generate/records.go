package generate

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"iter"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Record is one generated CloudTrail record.
type Record struct {
	Account string    // recipientAccountId
	Region  string    // awsRegion
	Time    time.Time // eventTime (whole seconds, UTC)
	JSON    []byte    // the record: one JSON object, owned by the receiver

	scenario string // the scenario that made it, for the tests
}

// Records yields o.Events CloudTrail records in event-time order, all within
// [o.Start, o.Start+o.Span). The same options give the same records; a zero Start means the
// span before now (and so different records each call). Memory stays bounded whatever the number of records:
// only scenes still in progress (a user created and not yet deleted) are held.
func Records(o Options) iter.Seq[Record] {
	o = o.withDefaults(time.Now())
	return func(yield func(Record) bool) {
		g := newGen(o)
		for g.emitted < g.n {
			if !yield(g.next()) {
				return
			}
		}
	}
}

// maxScenes bounds the scenes in progress; beyond it only single reads start.
const maxScenes = 10000

// gen makes records. Every record belongs to a scene (a scenario being played by one
// principal); scenes start at a steady pace over the time range and wait in a heap for the
// time of their next step.
type gen struct {
	rng        *rand.Rand
	seed       uint64
	n          int
	start, end time.Time
	accounts   []*account
	scenes     sceneHeap
	queued     int // steps waiting in scenes
	emitted    int
	last       time.Time
	seq        uint64
	required   []*scenario // required scenarios not yet forced
	forced     int
	nRequired  int
	daily      []dailyScene    // daily and rare scenarios still to come, in time order
	perHour    [2]float64      // successful and failed sign-ins expected in an hour
	hourly     float64         // records in an hour
	crowds     []time.Duration // the crowds' times of day (from the start)
	buf        []byte
}

// scene is one scenario played by one principal.
type scene struct {
	sc      *scenario
	acct    *account
	who     *principal
	region  string
	ip      string
	agent   string // user agent of its API calls
	browser string // user agent of its sign-ins
	console bool
	service bool      // an AWS service makes the calls: no TLS details
	key     string    // access key of its calls
	since   time.Time // when its session started
	tls     [2]string // TLS version and cipher suite
	vars    map[string]string
	repeat  int    // calls that number themselves so far: parts of an upload, ACL entries both ways
	hop     int    // calls made in the next region so far (@hop)
	near    string // its third address, in its country (@near), once drawn
	abroad  string // its second address, in another country (@abroad), once drawn
	steps   []timedStep
	next    int
	seq     uint64
}

// dailyScene is the time a daily or rare scenario is played.
type dailyScene struct {
	at    time.Time
	sc    *scenario
	waits int // times a rare scene waited for someone to play it (rareWait)
}

// A rare scene waits, rareWait at a time and maxRareWaits times at most (and neither into
// the last hour of the span, whose records would not leave it room, nor near a crowd),
// until its account has a principal of its kind that no other scene keeps (pickOther): its
// incident or near miss is then its own.
const (
	rareWait     = 20 * time.Minute
	maxRareWaits = 3
)

type timedStep struct {
	step
	at  time.Time
	rep int // the repetition of a repeated step, from 0
}

func newGen(o Options) *gen {
	g := &gen{
		rng:   worldRNG(o.Seed),
		seed:  o.Seed,
		n:     o.Events,
		start: o.Start.UTC(),
		end:   o.Start.UTC().Add(o.Span),
	}
	g.accounts = newAccounts(g.rng, o.Accounts)
	org := "o-" + randomString(g.rng, lowerAlnum, 10)
	if o.Organization != "" { // the organization of --organization's layout
		org = o.Organization
	}
	for _, a := range g.accounts {
		a.org = org
	}
	for i := range scenarios {
		if scenarios[i].required {
			g.required = append(g.required, &scenarios[i])
		}
	}
	g.rng.Shuffle(len(g.required), func(i, j int) { g.required[i], g.required[j] = g.required[j], g.required[i] })
	g.nRequired = len(g.required)
	g.schedule(o.Span)
	return g
}

// worldRNG is the source the accounts and the records are drawn from.
func worldRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x747261696c73)) }

// newAccounts builds n accounts, the first draws of r.
func newAccounts(r *rand.Rand, n int) []*account {
	var out []*account
	for i := range n {
		out = append(out, newAccount(r, i))
	}
	return out
}

// schedule draws a time of day for each daily scenario, in the first 24 hours of the span
// (the whole span when shorter) and 20 minutes at least before an hour ends, so that a
// crowd falls in one hour; the scenario is played then every 24 hours until the end. A
// crowd comes bandHours+1 hours at least after the start of a span of a day or more, so
// that the detector's outlier rules, which judge an account only once they have watched it
// for bandHours hours, judge it too, and an hour before the day ends, so that records are
// left for it. Rare scenarios draw their time of day out of the first rareWithin of a day,
// whatever the span (a shorter span has those that fall in it), each in a slot of its own
// and clear of the crowds (crowdClear), so that two incidents seldom meet.
func (g *gen) schedule(span time.Duration) {
	hours := span.Hours()
	for i := range 2 {
		g.perHour[i] = float64(g.n) / hours * signInWeight[i] / stepWeight
	}
	g.hourly = float64(g.n) / hours
	perDay := g.hourly * 24
	first := min(span, 24*time.Hour)
	// Each rare scenario has a slot of the day to itself, and starts in its first half.
	nRare := 0
	for i := range scenarios {
		if scenarios[i].rare {
			nRare++
		}
	}
	slots, slot := g.rng.Perm(nRare), rareWithin/time.Duration(max(nRare, 1))
	for _, rare := range []bool{false, true} { // the rare ones keep clear of the crowds
		for i := range scenarios {
			sc := &scenarios[i]
			var off time.Duration
			switch {
			case sc.daily && !rare:
				lo, hi := time.Duration(0), first
				if sc.crowd && first >= 2*bandHours*time.Hour {
					lo, hi = (bandHours+1)*time.Hour, first-time.Hour
				}
				at := g.start.Add(lo + time.Duration(g.rng.Int64N(int64(hi-lo))))
				off = fitHour(g.rng, at, g.start.Add(lo), g.start.Add(hi)).Sub(g.start)
				if sc.crowd {
					g.crowds = append(g.crowds, off)
				}
			case sc.rare && rare:
				off = slot*time.Duration(slots[0]) + time.Duration(g.rng.Int64N(int64(slot/2)))
				slots = slots[1:]
				for range 4 {
					if !g.nearCrowd(g.start.Add(off)) {
						break
					}
					off = (off + 2*crowdClear) % rareWithin
				}
			default:
				continue
			}
			for at := g.start.Add(off); at.Before(g.end); at = at.Add(24 * time.Hour) {
				if sc.rare && perDay < rareDensity && g.rng.Float64()*rareDensity >= perDay {
					continue // a sparse run: fewer incidents than days
				}
				g.daily = append(g.daily, dailyScene{at: at, sc: sc})
			}
		}
	}
	slices.SortStableFunc(g.daily, func(a, b dailyScene) int { return a.at.Compare(b.at) })
}

// nearCrowd reports whether t is within crowdClear of a crowd's time of day.
func (g *gen) nearCrowd(t time.Time) bool {
	off := t.Sub(g.start) % (24 * time.Hour)
	return slices.ContainsFunc(g.crowds, func(c time.Duration) bool { return (off - c).Abs() < crowdClear })
}

// crowdClear is how far a rare scenario starts from a crowd: a crowd tries most of its
// account's users, and would add to a near miss of theirs.
const crowdClear = 75 * time.Minute

// rareWithin is the part of a day a rare scenario starts in: it ends by the end of the day.
const rareWithin = 23 * time.Hour

// rareDensity is the fewest records a day that have every rare scenario every day; a
// sparser run has each on a day with the odds of its records a day to rareDensity, so that
// the incidents stay a small part of the records.
const rareDensity = 4000

// rareShare bounds the records of a rare scene: at most a tenth of the records of an
// hour, so that a run of few records an hour is not all incident.
const rareShare = 10

// fitHour moves t, when it falls in the last 20 minutes of its hour, into the first 40
// minutes of that hour or of the next, within [lo, hi); it returns t when neither fits.
func fitHour(r *rand.Rand, t, lo, hi time.Time) time.Time {
	h := t.Truncate(time.Hour)
	if t.Sub(h) <= 40*time.Minute {
		return t
	}
	off := time.Duration(r.Int64N(int64(40 * time.Minute)))
	for _, c := range []time.Time{h.Add(off), h.Add(time.Hour + off)} {
		if !c.Before(lo) && c.Before(hi) {
			return c
		}
	}
	return t
}

// next returns the next record in time order.
func (g *gen) next() Record {
	frac := (float64(g.emitted) + g.rng.Float64()) / float64(g.n)
	base := g.start.Add(time.Duration(frac * float64(g.end.Sub(g.start))))
	if base.Before(g.last) {
		base = g.last
	}
	for len(g.daily) > 0 && !g.daily[0].at.After(base) {
		d := g.daily[0]
		g.daily = g.daily[1:]
		at := d.at
		if at.Before(g.last) {
			at = g.last
		}
		g.beginDaily(d, at)
	}
	if len(g.scenes) == 0 || g.scenes[0].steps[g.scenes[0].next].at.After(base) {
		g.begin(base)
	}
	s := g.scenes[0]
	st := s.steps[s.next]
	s.next++
	if s.next == len(s.steps) {
		heap.Pop(&g.scenes)
	} else {
		heap.Fix(&g.scenes, 0)
	}
	g.queued--
	g.emitted++
	g.last = st.at
	return g.render(s, st)
}

// begin starts a scene at time at, if the records left to make leave room for its steps.
func (g *gen) begin(at time.Time) {
	left := g.n - g.emitted
	sc := g.choose()
	steps := g.plan(sc, at)
	if len(steps) > 1 && (g.queued+len(steps) > left || len(g.scenes) >= maxScenes) {
		sc = &scenarios[0]
		steps = g.plan(sc, at)
	}
	if g.queued+len(steps) > left {
		return
	}
	g.seq++
	heap.Push(&g.scenes, g.newScene(sc, at, steps, nil, nil))
	g.queued += len(steps)
}

// beginDaily starts a daily or rare scenario at time at (a rare one may wait: rareWait):
// one scene, or a crowd or party of them spread over a quarter of an hour, as many as the
// records left to make leave room for (a rare scene only when it is a small part of its
// hour: rareShare). The scenes of a crowd or party are played in one account by principals
// that are each another (as long as there are others); from abroad or the office they
// share one address.
func (g *gen) beginDaily(d dailyScene, at time.Time) {
	sc := d.sc
	var acct *account
	if sc.rare {
		acct = g.accounts[g.rng.IntN(len(g.accounts))]
		if next := at.Add(rareWait); d.waits < maxRareWaits && next.Before(g.end.Add(-time.Hour)) && !g.nearCrowd(next) && !acct.idle(sc.actor, at) {
			d.at, d.waits = next, d.waits+1
			i, _ := slices.BinarySearchFunc(g.daily, next, func(e dailyScene, t time.Time) int { return e.at.Compare(t) })
			g.daily = slices.Insert(g.daily, i, d)
			return
		}
	}
	n := 1
	switch {
	case sc.crowd:
		kind := 0
		if sc.steps[0].fail {
			kind = 1
		}
		n = crowdSize(g.perHour[kind], g.end.Sub(g.start))
	case sc.party > 0:
		n = sc.party
	}
	var first *scene
	used := map[*principal]bool{}
	for i := range n {
		start := at
		if i > 0 {
			start = at.Add(time.Duration(g.rng.Int64N(int64(15 * time.Minute))))
			if start.After(g.end.Add(-time.Second)) { // the span ends within the quarter
				start = at
			}
		}
		steps := g.plan(sc, start)
		if g.queued+len(steps) > g.n-g.emitted || sc.rare && float64(len(steps)) > g.hourly/rareShare {
			return
		}
		g.seq++
		if first != nil {
			acct = first.acct
		}
		s := g.newScene(sc, start, steps, acct, used)
		used[s.who] = true
		switch {
		case first == nil:
			first = s
		case sc.foreign || sc.office:
			s.ip = first.ip
		}
		heap.Push(&g.scenes, s)
		g.queued += len(steps)
	}
}

// crowdSize is how many scenes a crowd has when perHour sign-ins of its kind come in an
// hour: six, and eight times the standard deviation of a Poisson count of perHour, scaled
// down for spans shorter than the band's 10 hours, where fewer hours before set the band.
func crowdSize(perHour float64, span time.Duration) int {
	return 6 + int(8*math.Sqrt(perHour)*min(1, span.Hours()/bandHours))
}

// bandHours is how many hours before an hour the console's outlier band is computed from.
const bandHours = 10

// choose picks the next scenario: a required one when its turn has come (they are spread
// evenly over the run), otherwise one at random by weight.
func (g *gen) choose() *scenario {
	if len(g.required) > 0 && g.emitted >= g.n*(g.forced+1)/(g.nRequired+2) {
		sc := g.required[0]
		g.required = g.required[1:]
		g.forced++
		return sc
	}
	n := g.rng.IntN(scenarioWeight)
	for i := range scenarios {
		if n -= scenarios[i].weight; n < 0 {
			return &scenarios[i]
		}
	}
	return &scenarios[0]
}

// plan decides which steps of sc happen, how often, and when; every step falls before the
// end.
func (g *gen) plan(sc *scenario, at time.Time) []timedStep {
	limit := g.end.Add(-time.Second)
	if limit.Before(at) {
		limit = at
	}
	var out []timedStep
	t := at
	for _, st := range sc.steps {
		if st.odds > 0 && g.rng.IntN(100) >= st.odds {
			continue
		}
		times := 1
		if st.repeat > 0 {
			times = st.repeat + g.rng.IntN(st.repeatMax-st.repeat+1)
		}
		for rep := range times {
			if st.max > 0 {
				t = t.Add(st.min + time.Duration(g.rng.Int64N(int64(st.max-st.min)+1)))
			}
			if t.After(limit) {
				t = limit
			}
			out = append(out, timedStep{st, t, rep})
		}
	}
	return out
}

// newScene makes the scene of sc played from at: in account a (nil: one drawn), by a
// principal not in used when the account has one (pickOther).
func (g *gen) newScene(sc *scenario, at time.Time, steps []timedStep, a *account, used map[*principal]bool) *scene {
	r := g.rng
	if a == nil {
		a = g.accounts[r.IntN(len(g.accounts))]
	}
	s := &scene{sc: sc, acct: a, who: a.pickOther(r, sc.actor, used, at, sc.rare), region: a.region(r), steps: steps, seq: g.seq,
		vars: map[string]string{}, tls: [2]string{"TLSv1.3", "TLS_AES_128_GCM_SHA256"}}
	w := s.who
	if end := steps[len(steps)-1].at; end.After(w.planned) {
		w.planned = end
	}
	if sc.rare {
		w.busy = steps[len(steps)-1].at.Add(busyAfter)
	}
	switch {
	case w.kind == "AWSService":
		s.ip, s.agent, s.service = w.name, w.name, true
	case w.invokedBy != "":
		s.ip, s.agent, s.service = w.invokedBy, w.invokedBy, true
	default:
		s.console = sc.console || w.kind == "Root" || !sc.cli && w.console && r.IntN(100) < 35
		switch {
		case sc.foreign:
			s.ip = randomIP(r, pickCountry(r, hostile).nets)
		case w.tags&(human|sso) != 0 && g.trip(w, at) != "":
			s.ip = g.trip(w, at)
		case len(w.ips) > 0:
			s.ip = pick(r, w.ips)
		default:
			s.ip = randomIP(r, regions[s.region])
		}
		if sc.office {
			s.ip = a.office
		}
		s.browser = pick(r, browsers)
		if s.console {
			s.agent = consoleAgent
		} else {
			s.agent = pick(r, w.cli)
		}
		if sc.agent != "" { // a tool: never the console
			s.console, s.agent = false, sc.agent
		}
		if r.IntN(5) == 0 {
			s.tls = [2]string{"TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"}
		}
	}
	s.key = "ASIA" + base32String(r, 16)
	if w.kind == "IAMUser" && !s.console {
		s.key = w.key
	}
	s.since = at.Add(-time.Duration(r.Int64N(int64(2 * time.Hour))))
	if steps[0].op != nil && steps[0].op.eventType == "AwsConsoleSignIn" {
		s.since = at
	}
	for _, k := range slices.Sorted(maps.Keys(sc.vars)) { // in a fixed order: values draw random numbers
		v := sc.vars[k]
		if len(v) > 1 && v[0] == '$' {
			v = (&call{g: g, scene: s, region: s.region}).value(v[1:])
		}
		s.vars[k] = v
	}
	return s
}

// busyAfter is how long after its rare scenario a principal still plays no other: the
// longest window of a rule that could join their calls.
const busyAfter = time.Hour

// tripOdds is the percentage of days a person spends abroad.
const tripOdds = 8

// trip returns the address a person works from on the day of at when travelling that day
// (one day in twelve, in another country, from one address all day), "" when at home. The
// same person travels on the same days in every account.
func (g *gen) trip(w *principal, at time.Time) string {
	day := at.Unix() / 86400
	if w.tripDay == day+1 {
		return w.tripIP
	}
	w.tripDay, w.tripIP = day+1, ""
	person := w.name
	if w.kind == "AssumedRole" { // an Identity Center session: its person's
		person, _, _ = strings.Cut(w.session, "@")
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", g.seed, person, day)
	r := rand.New(rand.NewPCG(h.Sum64(), 0x74726970))
	if r.IntN(100) >= tripOdds {
		return ""
	}
	home := countryOf(w.ips[0])
	abroad := slices.DeleteFunc(slices.Clone(homes), func(c country) bool { return c.code == home.code })
	w.tripIP = randomIP(r, pickCountry(r, abroad).nets)
	return w.tripIP
}

// call is one record being rendered.
type call struct {
	g         *gen
	scene     *scene
	op        *op
	at        time.Time
	region    string
	requestID string
	fail      bool
}

func (g *gen) render(s *scene, st timedStep) Record {
	r := g.rng
	o := st.op
	if o == nil {
		o = g.pickRead()
		for st.fail && o.event == "GetCallerIdentity" { // which no policy can refuse
			o = g.pickRead()
		}
	}
	if st.rep > 0 { // a repeated call acts on another object
		for _, k := range freshVars {
			if _, preset := s.sc.vars[k]; !preset {
				delete(s.vars, k)
			}
		}
	}
	c := &call{g: g, scene: s, op: o, at: st.at.UTC().Truncate(time.Second), region: s.region, fail: st.fail}
	if st.hop {
		c.region = regionNames[s.hop%len(regionNames)]
		s.hop++
	}
	if o.svc.global {
		c.region = "us-east-1"
	}
	ip := s.ip
	switch st.from {
	case "abroad":
		if s.abroad == "" {
			home := countryOf(s.ip)
			others := slices.DeleteFunc(slices.Clone(homes), func(c country) bool { return c.code == home.code })
			s.abroad = randomIP(r, pickCountry(r, others).nets)
		}
		ip = s.abroad
	case "near": // another address the principal uses, else another of its country's
		for _, other := range s.who.ips {
			if s.near == "" && other != s.ip && countryOf(other).code == countryOf(s.ip).code {
				s.near = other
			}
		}
		for s.near == "" || s.near == s.ip {
			s.near = randomIP(r, countryOf(s.ip).nets)
		}
		ip = s.near
	}
	signIn := o.eventType == "AwsConsoleSignIn"
	serviceEvent := o.eventType == "AwsServiceEvent"
	if !signIn && !serviceEvent {
		if o.svc.shortID {
			c.requestID = randomString(r, upperHex, 16)
		} else {
			c.requestID = uuid(r)
		}
	}
	rec := record{
		EventVersion:       o.svc.version,
		UserIdentity:       c.identity(),
		EventTime:          c.at.Format(time.RFC3339),
		EventSource:        o.source,
		EventName:          o.event,
		AWSRegion:          c.region,
		SourceIPAddress:    ip,
		UserAgent:          s.agent,
		RequestID:          c.requestID,
		ReadOnly:           o.readOnly,
		EventType:          o.eventType,
		ManagementEvent:    !o.data,
		RecipientAccountID: s.acct.id,
		EventCategory:      "Management",
	}
	if o.data {
		rec.EventCategory = "Data"
	}
	switch {
	case signIn:
		rec.UserAgent = s.browser
	case serviceEvent:
		rec.SourceIPAddress, rec.UserAgent = o.source, o.source
	}
	// Each part is rendered into the shared buffer and kept as its own slice of it.
	buf := g.buf[:0]
	part := func(t tmpl) json.RawMessage {
		if len(t) == 0 {
			return nil
		}
		from := len(buf)
		buf = t.render(buf, c.value)
		return json.RawMessage(buf[from:len(buf):len(buf)])
	}
	rec.RequestParameters = part(o.req)
	if c.fail {
		rec.ErrorCode = o.svc.denyCode
		if !o.noDenyMsg {
			rec.ErrorMessage = string(o.denyMsg.render(nil, c.value))
		}
	}
	if !c.fail || signIn {
		rec.ResponseElements = part(o.resp)
	}
	rec.AdditionalEventData = part(o.extra)
	rec.Resources = part(o.resources)
	rec.ServiceEventDetails = part(o.details)
	if !s.service && !serviceEvent {
		rec.TLSDetails = &tlsDetails{Version: s.tls[0], CipherSuite: s.tls[1], Host: string(o.host.render(nil, c.value))}
		if s.console && !signIn {
			rec.SessionCredentialFromConsole = "true"
		}
	}
	rec.EventID = uuid(r)
	out, err := json.Marshal(rec)
	if err != nil {
		panic("generate: " + o.source + " " + o.event + " rendered invalid JSON: " + err.Error())
	}
	g.buf = buf
	return Record{Account: s.acct.id, Region: c.region, Time: c.at, JSON: out, scenario: s.sc.name}
}

// freshVars are the placeholders each repetition of a repeated step draws anew: the
// objects deleted one by one, the secrets read one after the other.
var freshVars = []string{"objectKey", "secretId"}

func (g *gen) pickRead() *op {
	n := g.rng.IntN(readWeight)
	for _, o := range reads {
		if n -= o.weight; n < 0 {
			return o
		}
	}
	return reads[0]
}

// actorArn is the ARN that error messages name for the scene's principal.
func (s *scene) actorArn() string {
	w, id := s.who, s.acct.id
	switch w.kind {
	case "AssumedRole":
		return "arn:aws:sts::" + id + ":assumed-role/" + w.name + "/" + w.session
	case "Root":
		return "arn:aws:iam::" + id + ":root"
	}
	return "arn:aws:iam::" + id + ":user/" + w.name
}

// identity is the userIdentity of the call.
func (c *call) identity() *identity {
	s := c.scene
	w, id := s.who, s.acct.id
	switch {
	case c.op.eventType == "AwsServiceEvent":
		return &identity{AccountID: id, InvokedBy: c.op.source}
	case w.kind == "AWSService":
		return &identity{Type: "AWSService", InvokedBy: w.name}
	}
	u := &identity{Type: w.kind, AccountID: id}
	switch w.kind {
	case "IAMUser":
		if w.tags&hidden == 0 {
			u.PrincipalID, u.ARN = w.id, s.actorArn()
		}
		u.UserName = w.name
	case "Root":
		u.PrincipalID, u.ARN = id, s.actorArn()
	case "AssumedRole":
		u.PrincipalID, u.ARN, u.InvokedBy = w.id+":"+w.session, s.actorArn(), w.invokedBy
	}
	if c.op.eventType == "AwsConsoleSignIn" {
		if c.fail {
			u.AccessKeyID = new(string)
		}
		return u
	}
	u.AccessKeyID = &s.key
	if s.console || w.kind == "AssumedRole" {
		sc := &sessionContext{}
		sc.Attributes.CreationDate = s.since.UTC().Format(time.RFC3339)
		sc.Attributes.MFAAuthenticated = "false"
		if s.console && w.mfa {
			sc.Attributes.MFAAuthenticated = "true"
		}
		if w.kind == "AssumedRole" {
			sc.SessionIssuer = issuer{Type: "Role", PrincipalID: w.id, ARN: "arn:aws:iam::" + id + ":role/" + w.name, AccountID: id, UserName: w.name}
		}
		u.SessionContext = sc
	}
	return u
}

// record is a CloudTrail record, its fields in the order CloudTrail writes them.
type record struct {
	EventVersion                 string          `json:"eventVersion"`
	UserIdentity                 *identity       `json:"userIdentity"`
	EventTime                    string          `json:"eventTime"`
	EventSource                  string          `json:"eventSource"`
	EventName                    string          `json:"eventName"`
	AWSRegion                    string          `json:"awsRegion"`
	SourceIPAddress              string          `json:"sourceIPAddress"`
	UserAgent                    string          `json:"userAgent"`
	ErrorCode                    string          `json:"errorCode,omitempty"`
	ErrorMessage                 string          `json:"errorMessage,omitempty"`
	RequestParameters            json.RawMessage `json:"requestParameters"`
	ResponseElements             json.RawMessage `json:"responseElements"`
	AdditionalEventData          json.RawMessage `json:"additionalEventData,omitempty"`
	RequestID                    string          `json:"requestID,omitempty"`
	EventID                      string          `json:"eventID"`
	ReadOnly                     bool            `json:"readOnly"`
	Resources                    json.RawMessage `json:"resources,omitempty"`
	EventType                    string          `json:"eventType"`
	ManagementEvent              bool            `json:"managementEvent"`
	RecipientAccountID           string          `json:"recipientAccountId"`
	ServiceEventDetails          json.RawMessage `json:"serviceEventDetails,omitempty"`
	EventCategory                string          `json:"eventCategory"`
	TLSDetails                   *tlsDetails     `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string          `json:"sessionCredentialFromConsole,omitempty"`
}

type identity struct {
	Type           string          `json:"type,omitempty"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    *string         `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

type sessionContext struct {
	SessionIssuer       issuer   `json:"sessionIssuer"`
	WebIDFederationData struct{} `json:"webIdFederationData"`
	Attributes          struct {
		CreationDate     string `json:"creationDate"`
		MFAAuthenticated string `json:"mfaAuthenticated"`
	} `json:"attributes"`
}

type issuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

type tlsDetails struct {
	Version     string `json:"tlsVersion"`
	CipherSuite string `json:"cipherSuite"`
	Host        string `json:"clientProvidedHostHeader"`
}

// sceneHeap orders scenes by the time of their next step, then by when they started.
type sceneHeap []*scene

func (h sceneHeap) Len() int { return len(h) }
func (h sceneHeap) Less(i, j int) bool {
	a, b := h[i].steps[h[i].next].at, h[j].steps[h[j].next].at
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].seq < h[j].seq
}
func (h sceneHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sceneHeap) Push(x any)   { *h = append(*h, x.(*scene)) }
func (h *sceneHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
