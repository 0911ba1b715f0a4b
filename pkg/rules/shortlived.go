package rules

import (
	"container/heap"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// ShortLivedIAMID is the rule_id of ShortLivedIAM's detections.
const ShortLivedIAMID = "short-lived-iam-object"

// ShortLivedIAMWindow is the longest life, in event time, of an IAM object the rule reports.
const ShortLivedIAMWindow = 10 * time.Minute

// ShortLivedIAMConfig tunes ShortLivedIAM. Zero fields take the defaults.
type ShortLivedIAMConfig struct {
	// Lateness is how far behind its account's clock a pending create or delete may still
	// find its partner, on top of the window. Default 1 h.
	Lateness time.Duration
	// ClockLead is how far ahead of an account's clock one event may move it; an event
	// further ahead moves it only as the third such event in a row (EventClock). Default
	// 2 h, more than window + lateness: an active account's events lie minutes apart, so an
	// event hours ahead of them is wrong or the first after a pause, and a pause costs only
	// the wait for the third event after it.
	ClockLead time.Duration
	// MaxHeld caps the pending creates and deletes held; beyond it the oldest by event
	// time is dropped. Default 1,000,000.
	MaxHeld int
	// Now gives the detected_at of detections. Default time.Now.
	Now func() time.Time
}

// ShortLivedIAM reports an IAM user, group, role, policy or access key created and deleted
// again within ShortLivedIAMWindow of event time in the same account. Only successful calls
// count; the create and the delete may arrive in any order and in different batches. The
// object is named by the event's resource fields (resource_type, resource_names, and
// resource_arns for a policy), so the rule never reads the raw record.
//
// For every (account, object type, object name) it holds the pending create, waiting for its
// delete, and the pending delete that arrived before its create. An entry is dropped once
// it is more than window + lateness behind its account's clock, an EventClock fed every
// event of the account while the rule holds state of it.
// Of two pending creates (or deletes) of the same object the later in event time is kept,
// so when two cycles of one name arrive interleaved out of order, the earlier can be missed.
type ShortLivedIAM struct {
	meta    Meta
	horizon time.Duration
	lead    time.Duration
	maxHeld int
	now     func() time.Time

	pending    map[pendingKey]*pending
	accounts   map[string]*accountState
	partitions map[int]*pendingHeap // the entries read from each partition, by offset
}

// NewShortLivedIAM returns the rule with the given settings.
func NewShortLivedIAM(c ShortLivedIAMConfig) *ShortLivedIAM {
	if c.Lateness <= 0 {
		c.Lateness = time.Hour
	}
	if c.ClockLead <= 0 {
		c.ClockLead = 2 * time.Hour
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 1_000_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &ShortLivedIAM{
		meta:       shortLivedMeta,
		horizon:    ShortLivedIAMWindow + c.Lateness,
		lead:       c.ClockLead,
		maxHeld:    c.MaxHeld,
		now:        c.Now,
		pending:    make(map[pendingKey]*pending),
		accounts:   make(map[string]*accountState),
		partitions: make(map[int]*pendingHeap),
	}
}

// shortLivedMeta describes ShortLivedIAM.
var shortLivedMeta = Meta{
	ID: ShortLivedIAMID, Severity: "high", Source: "builtin",
	Description: "An IAM user, group, role, policy or access key created and deleted again within 10 minutes: " +
		"credentials or permissions used once and removed to hide the traces.",
	Tags:   []string{"attack.persistence", "attack.defense-evasion", "attack.t1136.003", "attack.t1078.004"},
	Events: slices.Sorted(maps.Keys(iamCalls)),
}

// Info implements Rule.
func (r *ShortLivedIAM) Info() *Meta { return &r.meta }

func init() {
	register(Builtin{Meta: shortLivedMeta, New: func(*Params) Rule { return NewShortLivedIAM(ShortLivedIAMConfig{}) }})
}

// Held implements Rule: the number of pending creates and deletes.
func (r *ShortLivedIAM) Held() int { return len(r.pending) }

// Oldest implements Rule.
func (r *ShortLivedIAM) Oldest(partition int) (int64, bool) {
	h := r.partitions[partition]
	if h == nil {
		return 0, false
	}
	return h.items[0].at.Offset, true
}

// Observe implements Rule.
func (r *ShortLivedIAM) Observe(in *Input) []model.Detection { return r.observe(in.Event, in.At) }

func (r *ShortLivedIAM) observe(e *model.Event, at Position) []model.Detection {
	if acct := r.accounts[e.AccountID]; acct != nil && acct.clock.Observe(e.EventTime) {
		defer r.expire(acct)
	}
	if e.EventSource != "iam.amazonaws.com" || e.Outcome != "success" || e.ErrorCode != "" {
		return nil
	}
	call, ok := iamCalls[e.EventName]
	if !ok {
		return nil
	}
	name := objectName(e, call)
	if name == "" {
		return nil
	}
	p := &pending{
		key: pendingKey{account: e.AccountID, kind: call.kind, name: name, create: call.create},
		id:  e.EventID, user: e.UserName, env: e.Environment, time: e.EventTime, at: at,
	}
	partnerKey := p.key
	partnerKey.create = !p.key.create
	if q := r.pending[partnerKey]; q != nil {
		create, del := p, q
		if !p.key.create {
			create, del = q, p
		}
		if life := del.time.Sub(create.time); life >= 0 && life <= ShortLivedIAMWindow {
			r.remove(q)
			return []model.Detection{r.detection(create, del)}
		}
	}
	r.store(p)
	return nil
}

func (r *ShortLivedIAM) detection(create, del *pending) model.Detection {
	k := create.key
	life := del.time.Sub(create.time)
	hits := []Hit{
		{ID: create.id, User: create.user, Time: create.time, Account: k.account, Env: create.env},
		{ID: del.id, User: del.user, Time: del.time, Account: k.account, Env: create.env},
	}
	return r.meta.detect(Finding{
		Title:        fmt.Sprintf("%s %q created and deleted within %s", kindTitles[k.kind], k.name, life),
		ResourceType: k.kind, ResourceName: k.name,
		Context: map[string]any{"seconds_alive": life.Seconds(), "window": ShortLivedIAMWindow.String()},
	}, hits, r.now())
}

// store holds p, unless an entry of the same key with a later event time is held already.
func (r *ShortLivedIAM) store(p *pending) {
	// Observe fed p to the clock of an account with state; a new account's clock starts
	// with p. Removing the entry p replaces may drop the account, so take its clock first.
	clock := NewEventClock(r.lead)
	if acct := r.accounts[p.key.account]; acct != nil {
		clock = acct.clock
	} else {
		clock.Observe(p.time)
	}
	if old := r.pending[p.key]; old != nil {
		if old.time.After(p.time) {
			return
		}
		r.remove(old)
	}
	acct := r.accounts[p.key.account]
	if acct == nil {
		acct = &accountState{clock: clock}
		r.accounts[p.key.account] = acct
	}
	part := r.partitions[p.at.Partition]
	if part == nil {
		part = &pendingHeap{byOffset: true}
		r.partitions[p.at.Partition] = part
	}
	heap.Push(&acct.byTime, p)
	heap.Push(part, p)
	r.pending[p.key] = p
	r.expire(acct)
	for len(r.pending) > r.maxHeld {
		r.remove(r.oldest())
	}
}

// expire drops the entries of acct that are further than the horizon behind its clock.
func (r *ShortLivedIAM) expire(acct *accountState) {
	limit := acct.clock.Now().Add(-r.horizon)
	for acct.byTime.Len() > 0 && acct.byTime.items[0].time.Before(limit) {
		r.remove(acct.byTime.items[0])
	}
}

// oldest returns the held entry with the earliest event time. It looks at every account
// and runs only when the cap is reached.
func (r *ShortLivedIAM) oldest() *pending {
	var o *pending
	for _, a := range r.accounts {
		if p := a.byTime.items[0]; o == nil || p.time.Before(o.time) {
			o = p
		}
	}
	return o
}

func (r *ShortLivedIAM) remove(p *pending) {
	acct := r.accounts[p.key.account]
	heap.Remove(&acct.byTime, p.timeIndex)
	if acct.byTime.Len() == 0 {
		delete(r.accounts, p.key.account)
	}
	part := r.partitions[p.at.Partition]
	heap.Remove(part, p.offsetIndex)
	if part.Len() == 0 {
		delete(r.partitions, p.at.Partition)
	}
	delete(r.pending, p.key)
}

// pendingKey names one slot of state: the create, or the early delete, of one object.
type pendingKey struct {
	account, kind, name string
	create              bool
}

// pending is a create waiting for its delete or a delete waiting for its create.
type pending struct {
	key           pendingKey
	id, user, env string
	time          time.Time
	at            Position // where the event was read
	timeIndex     int      // place in the account's byTime heap
	offsetIndex   int      // place in the partition's heap
}

// accountState is the event-time clock of one account and its entries, oldest first.
type accountState struct {
	clock  EventClock
	byTime pendingHeap
}

// pendingHeap is a min-heap of entries (container/heap), by event time (an account's
// entries) or by offset (a partition's). Every entry is in one heap of each kind and knows
// its place in both.
type pendingHeap struct {
	items    []*pending
	byOffset bool
}

func (h *pendingHeap) Len() int { return len(h.items) }

func (h *pendingHeap) Less(i, j int) bool {
	if h.byOffset {
		return h.items[i].at.Offset < h.items[j].at.Offset
	}
	return h.items[i].time.Before(h.items[j].time)
}

func (h *pendingHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.place(h.items[i]), *h.place(h.items[j]) = i, j
}

func (h *pendingHeap) Push(x any) {
	p := x.(*pending)
	*h.place(p) = len(h.items)
	h.items = append(h.items, p)
}

func (h *pendingHeap) Pop() any {
	last := len(h.items) - 1
	p := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	return p
}

// place returns where p keeps its index in heaps of h's kind.
func (h *pendingHeap) place(p *pending) *int {
	if h.byOffset {
		return &p.offsetIndex
	}
	return &p.timeIndex
}

// iamCall is what the rule needs to know of one IAM API call.
type iamCall struct {
	kind   string // the call's resource_type
	create bool
}

var iamCalls = map[string]iamCall{
	"CreateUser":      {"iam-user", true},
	"DeleteUser":      {"iam-user", false},
	"CreateGroup":     {"iam-group", true},
	"DeleteGroup":     {"iam-group", false},
	"CreateRole":      {"iam-role", true},
	"DeleteRole":      {"iam-role", false},
	"CreatePolicy":    {"iam-policy", true},
	"DeletePolicy":    {"iam-policy", false},
	"CreateAccessKey": {"iam-access-key", true},
	"DeleteAccessKey": {"iam-access-key", false},
}

// objectName returns the name the rule pairs a call's object by, from the normalized
// resource fields: the ARN of a policy (DeletePolicy names it by ARN only, and two policies
// of one name may live under different paths), the name or ID of the others.
func objectName(e *model.Event, call iamCall) string {
	if e.ResourceType != call.kind {
		return ""
	}
	names := e.ResourceNames
	if call.kind == "iam-policy" {
		names = e.ResourceARNs
	}
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

var kindTitles = map[string]string{
	"iam-user":       "IAM user",
	"iam-group":      "IAM group",
	"iam-role":       "IAM role",
	"iam-policy":     "IAM policy",
	"iam-access-key": "IAM access key",
}
