package rules

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// The rules of this file report data put at risk of loss: keys scheduled for deletion,
// buckets stripped of what would let their objects be recovered, objects deleted in bulk.

func init() {
	register(Builtin{
		Meta: Meta{ID: "kms-key-deletion-scheduled", Severity: "high",
			Description: "A KMS key scheduled for deletion or disabled: whatever it encrypts becomes unreadable, for " +
				"good once the deletion completes (ransom, or destruction covered as cleanup).",
			Tags:   []string{"attack.impact", "attack.t1485", "attack.t1486"},
			Events: []string{"ScheduleKeyDeletion", "DisableKey"}},
		New: func(*Params) Rule { return &Match{When: keyDeletion} },
	})
	register(Builtin{
		Meta: Meta{ID: "s3-bucket-protection-removed", Severity: "medium",
			Description: "A bucket's protection removed: versioning suspended, MFA delete disabled, default encryption, " +
				"replication or access logging removed; once per bucket per window (90 min), high when another kind " +
				"of removal hits the same bucket within the window (or one call does two): the groundwork of a " +
				"destructive attack on its data.",
			Tags:   []string{"attack.impact", "attack.defense-evasion", "attack.t1490", "attack.t1562.008"},
			Events: []string{"PutBucketVersioning", "DeleteBucketEncryption", "DeleteBucketReplication", "PutBucketLogging"}},
		Params: map[string]any{"window": 90 * time.Minute},
		New: func(p *Params) Rule {
			w := p.Duration("window")
			removal := func(in *Input) bool { return protectionRemoved(in) != "" }
			return &Threshold{
				Select: removal, Key: bucketOfProtection, Distinct: protectionRemoved,
				Count: 1, Window: w, Describe: describeProtection,
				Escalate: &Escalation{Select: removal, Within: w, Distinct: true, Severity: "high", Describe: describeProtectionFollowed},
			}
		},
	})
	register(Builtin{
		Meta: Meta{ID: "s3-mass-object-deletion", Severity: "high",
			Description: "At least count (50) objects deleted from one bucket by one principal within window (1 h), " +
				"by DeleteObject calls or DeleteObjects batches (each counting the keys it names): data destruction, " +
				"or a bucket emptied after exfiltration.",
			Tags:   []string{"attack.impact", "attack.t1485"},
			Events: []string{"DeleteObject", "DeleteObjects"}},
		Params: map[string]any{"count": 50, "window": time.Hour},
		New: func(p *Params) Rule {
			return &Threshold{
				Select: objectsDeleted, Key: deletionKey, Weight: deletedKeys,
				Count: p.Int("count"), Window: p.Duration("window"), Describe: describeDeletion,
			}
		},
	})
}

func keyDeletion(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "kms.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	key := arnName(orField(resourceOf(e, "kms-key"), in, "requestParameters.keyId"))
	ctx := map[string]any{"call": e.EventName}
	what := "disabled"
	if e.EventName == "ScheduleKeyDeletion" {
		days := cmp.Or(in.Str("responseElements.pendingWindowInDays"), in.Str("requestParameters.pendingWindowInDays"), "30")
		what = "scheduled for deletion in " + days + " days"
		ctx["pending_window_days"] = days
		if d := in.Str("responseElements.deletionDate"); d != "" {
			ctx["deletion_date"] = d
		}
	}
	return Finding{
		Title:        fmt.Sprintf("KMS key %s %s by %s", key, what, userOf(e)),
		ResourceType: "kms-key", ResourceName: key, Context: ctx,
	}, true
}

// protectionRemoved tells which protections of a bucket a successful S3 call removes
// ("versioning suspended", "default encryption removed", two joined by ", " for a
// versioning change that does both), "" for none.
func protectionRemoved(in *Input) string {
	e := in.Event
	if e.EventSource != "s3.amazonaws.com" || !okCall(e) {
		return ""
	}
	switch e.EventName {
	case "PutBucketVersioning":
		var kinds []string
		if in.Str("requestParameters.VersioningConfiguration.Status") == "Suspended" {
			kinds = append(kinds, "versioning suspended")
		}
		if in.Str("requestParameters.VersioningConfiguration.MfaDelete") == "Disabled" {
			kinds = append(kinds, "MFA delete disabled")
		}
		return strings.Join(kinds, ", ")
	case "DeleteBucketEncryption":
		return "default encryption removed"
	case "DeleteBucketReplication":
		return "replication removed"
	case "PutBucketLogging":
		// Logging is turned off by a BucketLoggingStatus without LoggingEnabled.
		if in.Field("requestParameters.BucketLoggingStatus") != nil && in.Field("requestParameters.BucketLoggingStatus.LoggingEnabled") == nil {
			return "access logging disabled"
		}
	}
	return ""
}

// bucketOfProtection is the bucket of a protection change.
func bucketOfProtection(in *Input) string {
	return orField(resourceOf(in.Event, "s3-bucket"), in, "requestParameters.bucketName")
}

func describeProtection(t *Tally) Finding {
	h := t.Hits[0]
	kinds := strings.Split(h.Value, ", ")
	f := Finding{
		Title:        fmt.Sprintf("bucket %q: %s by %s", t.Key, h.Value, h.User),
		ResourceType: "s3-bucket", ResourceName: t.Key,
		Context: map[string]any{"removed": kinds, "window": t.Window.String()},
	}
	if len(kinds) > 1 {
		f.Severity = "high"
	}
	return f
}

func describeProtectionFollowed(t *Tally, followed Hit) Finding {
	first := t.Hits[len(t.Hits)-1]
	after := followed.Time.Sub(first.Time)
	return Finding{
		Title:        fmt.Sprintf("bucket %q: %s, then %s within %s (by %s)", t.Key, first.Value, followed.Value, after, followed.User),
		ResourceType: "s3-bucket", ResourceName: t.Key,
		Context: map[string]any{"removed": append(strings.Split(first.Value, ", "), strings.Split(followed.Value, ", ")...),
			"apart": after.String(), "window": t.Window.String()},
	}
}

func objectsDeleted(in *Input) bool {
	e := in.Event
	return (e.EventName == "DeleteObject" || e.EventName == "DeleteObjects") && e.EventSource == "s3.amazonaws.com" &&
		okCall(e) && !byAWS(e)
}

// deletionKey groups deletions by bucket and principal.
func deletionKey(in *Input) string {
	e := in.Event
	bucket := bucketOfObject(in)
	if bucket == "" {
		return ""
	}
	return bucket + "\x00" + cmp.Or(e.UserARN, e.PrincipalID, userOf(e))
}

// deletedKeys is how many objects a deletion names: one for DeleteObject, the keys of
// requestParameters.delete.Object for DeleteObjects when the record holds them (an array,
// or an object for a single key), else one.
func deletedKeys(in *Input) int {
	if in.Event.EventName != "DeleteObjects" {
		return 1
	}
	if o, ok := in.Field("requestParameters.delete.Object").([]any); ok {
		return max(len(o), 1)
	}
	return 1
}

func describeDeletion(t *Tally) Finding {
	bucket, _, _ := strings.Cut(t.Key, "\x00")
	objects := 0
	for _, h := range t.Hits {
		objects += max(h.Weight, 1)
	}
	last := t.Hits[len(t.Hits)-1]
	span := last.Time.Sub(t.Hits[0].Time)
	return Finding{
		Title:        fmt.Sprintf("%d objects deleted from bucket %q by %s within %s", objects, bucket, last.User, span),
		ResourceType: "s3-bucket", ResourceName: bucket,
		Context: map[string]any{"objects": objects, "calls": len(t.Hits), "count": t.Count, "window": t.Window.String()},
	}
}
