package s3event

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	key := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/21/123456789012_CloudTrail_us-east-1_20261121T1200Z_a b+c.json.gz"
	built := ObjectCreated("us-east-1", "trail-bucket", key, 1234, "etag", time.Unix(0, 0))
	snsWrapped, _ := json.Marshal(map[string]string{"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": string(built)})
	tests := []struct {
		name    string
		file    string
		body    []byte
		want    []Object
		wantErr bool
	}{
		{name: "built by ObjectCreated, key round-trips", body: built, want: []Object{{"trail-bucket", key, 1234}}},
		{name: "SNS-wrapped S3 event", body: snsWrapped, want: []Object{{"trail-bucket", key, 1234}}},
		{name: "S3 event as AWS sends it", file: "s3_event.json", want: []Object{{"my-trail-bucket", "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/21/111122223333_CloudTrail_eu-west-1_20261121T0905Z_Zx8kDjyMTs0V3Ucn.json.gz", 2261}}},
		{name: "CloudTrail SNS notice", file: "cloudtrail_sns.json", want: []Object{{"my-trail-bucket", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T0905Z_a.json.gz", 0}, {"my-trail-bucket", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T0905Z_b.json.gz", 0}}},
		{name: "EventBridge Object Created", file: "eventbridge.json", want: []Object{{"my-trail-bucket", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/x.json.gz", 880}}},
		{name: "S3 test event", body: []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T09:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}`), want: nil},
		{name: "garbage", body: []byte("hello"), wantErr: true},
		{name: "JSON but unknown", body: []byte(`{"a":1}`), wantErr: true},
		{name: "bad key escape", body: []byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.file != "" {
				var err error
				if body, err = os.ReadFile("testdata/" + tt.file); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Parse(body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(ObjectCreated("us-east-1", "b", "k 1.json.gz", 1, "e", time.Unix(0, 0)))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"k\"]}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, err := Parse(body)
		if err != nil && objs != nil {
			t.Fatal("objects returned with an error")
		}
		for _, o := range objs {
			if o.Bucket == "" || o.Key == "" {
				t.Fatalf("object without bucket or key: %+v", o)
			}
		}
	})
}
