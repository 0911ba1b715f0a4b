// Package s3event reads and writes the notifications that announce a new S3 object: the S3
// event notification (directly or wrapped in an SNS envelope), CloudTrail's own SNS notice
// and the EventBridge "Object Created" event.
package s3event

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Object is one S3 object a notification announces.
type Object struct {
	Bucket string
	Key    string // decoded: as stored in S3
	Size   int64
}

// Notification is an S3 event notification as S3 sends it (event message structure 2.1).
type Notification struct {
	Records []Record `json:"Records"`
}

// Record is one entry of a Notification.
type Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      map[string]string `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                Entity            `json:"s3"`
}

// Entity is the s3 part of a Record.
type Entity struct {
	SchemaVersion   string       `json:"s3SchemaVersion"`
	ConfigurationID string       `json:"configurationId"`
	Bucket          BucketEntity `json:"bucket"`
	Object          ObjectEntity `json:"object"`
}

// BucketEntity names the bucket of a Record.
type BucketEntity struct {
	Name          string            `json:"name"`
	OwnerIdentity map[string]string `json:"ownerIdentity"`
	ARN           string            `json:"arn"`
}

// ObjectEntity names the object of a Record. Key is URL-encoded as S3 sends it.
type ObjectEntity struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"eTag,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// ObjectCreated returns the notification S3 sends for a PutObject of bucket/key.
func ObjectCreated(region, bucket, key string, size int64, etag string, at time.Time) []byte {
	n := Notification{Records: []Record{{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         region,
		EventTime:         at.UTC().Format("2006-01-02T15:04:05.000Z"),
		EventName:         "ObjectCreated:Put",
		UserIdentity:      map[string]string{"principalId": "AWS:AROAEXAMPLEROLE:regionalDeliverySession"},
		RequestParameters: map[string]string{"sourceIPAddress": "203.0.113.10"},
		ResponseElements:  map[string]string{"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
		S3: Entity{
			SchemaVersion:   "1.0",
			ConfigurationID: "trailstream-cloudtrail",
			Bucket: BucketEntity{Name: bucket, ARN: "arn:aws:s3:::" + bucket,
				OwnerIdentity: map[string]string{"principalId": "A3NL1KOZZKExample"}},
			Object: ObjectEntity{Key: url.QueryEscape(key), Size: size, ETag: etag,
				Sequencer: fmt.Sprintf("%016X", at.UnixNano())},
		},
	}}}
	b, _ := json.Marshal(n) // cannot fail: strings and numbers only
	return b
}

// ErrUnknown reports a message that is none of the notification formats.
var ErrUnknown = errors.New("not an S3, SNS, CloudTrail or EventBridge notification")

// envelope has the fields that tell the formats apart.
type envelope struct {
	Records []json.RawMessage `json:"Records"`
	// SNS envelope.
	Type    string `json:"Type"`
	Message string `json:"Message"`
	// CloudTrail's SNS notice.
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
	// EventBridge.
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		} `json:"object"`
	} `json:"detail"`
	// S3's test event, sent when notifications are configured.
	Event string `json:"Event"`
}

// Parse returns the objects a notification announces. A test event announces none.
func Parse(body []byte) ([]Object, error) {
	return parse(body, 0)
}

func parse(body []byte, depth int) ([]Object, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("notification is not JSON: %w", err)
	}
	switch {
	case env.Records != nil:
		var objs []Object
		for i, raw := range env.Records {
			var r Record
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("notification record %d: %w", i, err)
			}
			if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
				continue
			}
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, fmt.Errorf("notification record %d: object key %q: %w", i, r.S3.Object.Key, err)
			}
			if r.S3.Bucket.Name == "" || key == "" {
				return nil, fmt.Errorf("notification record %d: no bucket or key", i)
			}
			objs = append(objs, Object{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size})
		}
		return objs, nil
	case env.Type == "Notification" && env.Message != "" && depth == 0:
		return parse([]byte(env.Message), depth+1)
	case env.S3Bucket != "" && len(env.S3ObjectKey) > 0:
		objs := make([]Object, len(env.S3ObjectKey))
		for i, k := range env.S3ObjectKey {
			objs[i] = Object{Bucket: env.S3Bucket, Key: k}
		}
		return objs, nil
	case env.Source == "aws.s3" && env.Detail != nil:
		if env.DetailType != "Object Created" {
			return nil, nil
		}
		d := env.Detail
		if d.Bucket.Name == "" || d.Object.Key == "" {
			return nil, errors.New("EventBridge event without bucket or key")
		}
		return []Object{{Bucket: d.Bucket.Name, Key: d.Object.Key, Size: d.Object.Size}}, nil
	case env.Event == "s3:TestEvent":
		return nil, nil
	}
	return nil, ErrUnknown
}
