//go:build faults

package faults

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/generate"
)

// object is one CloudTrail log file of an input: its key, its bytes as stored and the event
// IDs of the good records in it.
type object struct {
	key  string
	body []byte
	ids  []string
}

// input is what a scenario puts in the bucket: the files, and what must come out.
type input struct {
	objects []object
	// notes are notifications sent as they are (garbage), besides those of the objects.
	notes []string
	// records counts what was put in: every record, good or bad, and every bad notification.
	records int
	// ids are the distinct good records: each must be in ClickHouse once.
	ids []string
	// optional are event IDs of bad records that either documented outcome may deliver.
	optional map[string]bool
}

func (in *input) add(key string, records [][]byte, good []string) {
	in.objects = append(in.objects, object{key: key, body: gzipRecords(records), ids: good})
	in.records += len(records)
	in.ids = append(in.ids, good...)
}

// largest returns the index of the object with the most good records.
func (in *input) largest() int {
	best := 0
	for i, o := range in.objects {
		if len(o.ids) > len(in.objects[best].ids) {
			best = i
		}
	}
	return best
}

func gzipRecords(records [][]byte) []byte {
	var b bytes.Buffer
	if err := generate.WriteFile(&b, slices.Values(records)); err != nil {
		panic(err) // writes to memory cannot fail
	}
	return b.Bytes()
}

// header is what the suite reads of a record.
type header struct {
	EventID     string `json:"eventID"`
	EventSource string `json:"eventSource"`
	AWSRegion   string `json:"awsRegion"`
	Account     string `json:"recipientAccountId"`
}

func readHeader(t testing.TB, rec []byte) header {
	t.Helper()
	var h header
	if err := json.Unmarshal(rec, &h); err != nil || h.EventID == "" {
		t.Fatalf("generated record without an eventID (%v): %.200s", err, rec)
	}
	return h
}

func ids(t testing.TB, records [][]byte) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = readHeader(t, r).EventID
	}
	return out
}

// start is the time of the earliest generated record: fixed, so that every run generates the
// same records and the clean run's detections are those of every scenario of the input.
var start = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

// standardInput is the input of the clean run and of most faults: about 36,000 generated
// records within four minutes. One account's 30,000 records come as a file of about 24,000
// (its home region) and one of about 5,500, the only files CloudTrail writes for those five
// minutes; twelve more accounts bring 6,000 records in files of at most 500, from the first
// seed whose accounts hash (as the services' writers do) to every one of the six partitions
// of the account-keyed topics, so that each partition carries events.
//
// The IAM objects that the records create or delete more than once are left out: for those
// the short-lived rule's detections depend on the order the events arrive in (see
// pkg/rules/shortlived.go), and redelivery changes the order, so the clean run's detections
// would not be the only right ones.
var standardInput = sync.OnceValue(func() *input {
	t := &panicT{}
	parts := []generate.Options{
		{Events: 30000, Accounts: 1, RecordsPerFile: 30000, Span: 4 * time.Minute, Start: start, Seed: 1},
		spread(generate.Options{Events: 6000, Accounts: 12, RecordsPerFile: 500, Span: 4 * time.Minute, Start: start},
			accountsOf(generate.Options{Events: 30000, Accounts: 1, Span: 4 * time.Minute, Start: start, Seed: 1})),
	}
	calls := map[string]int{}
	for _, o := range parts {
		for r := range generate.Records(o) {
			if k, ok := iamObject(r.JSON); ok {
				calls[k]++
			}
		}
	}
	in := &input{}
	for _, o := range parts {
		for f := range generate.Files(o) {
			var keep [][]byte
			for _, r := range f.Records {
				if k, ok := iamObject(r); !ok || calls[k] == 1 {
					keep = append(keep, r)
				}
			}
			in.add(f.Key, keep, ids(t, keep))
		}
	}
	return in
})

// accountsOf returns the accounts of the records o generates.
func accountsOf(o generate.Options) map[string]bool {
	out := map[string]bool{}
	for r := range generate.Records(o) {
		out[r.Account] = true
	}
	return out
}

// spread returns o with the first seed from 1 on whose accounts, with those given, fall in
// every partition when keyed by account as the services key events.
func spread(o generate.Options, accounts map[string]bool) generate.Options {
	all := make([]int, partitions)
	for p := range all {
		all[p] = p
	}
	for o.Seed = 1; o.Seed <= 100; o.Seed++ {
		hit := map[int]bool{}
		for a := range accounts {
			hit[(&kafka.Hash{}).Balance(kafka.Message{Key: []byte(a)}, all...)] = true
		}
		for a := range accountsOf(o) {
			hit[(&kafka.Hash{}).Balance(kafka.Message{Key: []byte(a)}, all...)] = true
		}
		if len(hit) == partitions {
			return o
		}
	}
	panic("no seed up to 100 spreads the accounts over every partition")
}

// iamObject returns, for an IAM call that creates or deletes something, a key naming the
// call and the object: account, verb, noun and name.
func iamObject(rec []byte) (string, bool) {
	var r struct {
		EventSource string         `json:"eventSource"`
		EventName   string         `json:"eventName"`
		Account     string         `json:"recipientAccountId"`
		Request     map[string]any `json:"requestParameters"`
	}
	if json.Unmarshal(rec, &r) != nil || r.EventSource != "iam.amazonaws.com" {
		return "", false
	}
	verb, noun := r.EventName[:min(6, len(r.EventName))], r.EventName[min(6, len(r.EventName)):]
	if verb != "Create" && verb != "Delete" {
		return "", false
	}
	name := ""
	for _, f := range []string{"userName", "groupName", "roleName", "policyName", "instanceProfileName", "policyArn"} {
		if v, ok := r.Request[f].(string); ok {
			name = v[strings.LastIndex(v, "/")+1:]
			break
		}
	}
	return strings.Join([]string{r.Account, verb, noun, name}, "/"), true
}

// panicT lets inputs be built outside a test; a failure is a bug in the suite.
type panicT struct{ testing.TB }

func (panicT) Helper()                      {}
func (panicT) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// key returns a CloudTrail object key for a file of account and region delivered at.
func key(r *rand.Rand, account, region string, at time.Time) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		account, region, at.UTC().Format("2006/01/02"), account, region, at.UTC().Format("20060102T1504Z"), b)
}

func hexN(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func upperN(r *rand.Rand, n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

func uuid(r *rand.Rand) string {
	h := hexN(r, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// runInstances returns a RunInstances record as EC2 logs it: the request, and in the
// response every instance launched with its network interface, tags and options, which is
// what makes these records large. It pads with tags until the record has about size bytes.
func runInstances(r *rand.Rand, account, region string, at time.Time, size int) []byte {
	instances := max(1, (size-2500)/2600)
	seed := r.Uint64()
	render := func(tags int) []byte {
		rr := rand.New(rand.NewPCG(seed, 1))
		return renderRunInstances(rr, account, region, at, instances, tags)
	}
	base, one := len(render(0)), len(render(1))
	tags := 0
	if size > base {
		tags = (size - base + one - base - 1) / (one - base)
	}
	return render(tags)
}

func renderRunInstances(r *rand.Rand, account, region string, at time.Time, instances, tags int) []byte {
	ts := at.UTC().Format(time.RFC3339)
	ms := at.UnixMilli()
	role, session := "AROA"+upperN(r, 17), fmt.Sprintf("terraform-%d", r.IntN(100000))
	image, subnet, vpc, sg := "ami-"+hexN(r, 17), "subnet-"+hexN(r, 17), "vpc-"+hexN(r, 17), "sg-"+hexN(r, 17)
	token := "terraform-" + at.UTC().Format("20060102150405") + hexN(r, 12)
	az := region + string(rune('a'+r.IntN(3)))
	var tagList, tagItems strings.Builder
	for i := range tags {
		if i > 0 {
			tagList.WriteByte(',')
			tagItems.WriteByte(',')
		}
		k, v := fmt.Sprintf("team:cost-allocation-%03d", i), "platform-"+hexN(r, 24)
		fmt.Fprintf(&tagList, `{"key":%q,"value":%q}`, k, v)
		fmt.Fprintf(&tagItems, `{"key":%q,"value":%q}`, k, v)
	}
	req := fmt.Sprintf(`{"instancesSet":{"items":[{"imageId":%q,"minCount":%d,"maxCount":%d}]},"instanceType":"m6i.large",`+
		`"blockDeviceMapping":{"items":[{"deviceName":"/dev/xvda","ebs":{"volumeSize":50,"deleteOnTermination":true,"volumeType":"gp3","encrypted":true}}]},`+
		`"monitoring":{"enabled":false},"disableApiTermination":false,"disableApiStop":false,"clientToken":%q,`+
		`"networkInterfaceSet":{"items":[{"deviceIndex":0,"subnetId":%q,"associatePublicIpAddress":false,"groupSet":{"items":[{"groupId":%q}]}}]},`+
		`"ebsOptimized":true,"tagSpecificationSet":{"items":[{"resourceType":"instance","tags":[%s]},{"resourceType":"volume","tags":[%s]}]},`+
		`"metadataOptions":{"httpTokens":"required","httpPutResponseHopLimit":2,"httpEndpoint":"enabled"},"userData":"<sensitiveDataRemoved>"}`,
		image, instances, instances, token, subnet, sg, tagList.String(), tagList.String())
	var items strings.Builder
	for i := range instances {
		if i > 0 {
			items.WriteByte(',')
		}
		ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))
		dns := "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
		eni := "eni-" + hexN(r, 17)
		fmt.Fprintf(&items, `{"instanceId":"i-%s","imageId":%q,"bootMode":"uefi-preferred","currentInstanceBootMode":"legacy-bios",`+
			`"instanceState":{"code":0,"name":"pending"},"privateDnsName":%q,"amiLaunchIndex":%d,"productCodes":{},"instanceType":"m6i.large",`+
			`"launchTime":%d,"placement":{"availabilityZone":%q,"tenancy":"default"},"monitoring":{"state":"disabled"},"subnetId":%q,"vpcId":%q,`+
			`"privateIpAddress":%q,"stateReason":{"code":"pending","message":"pending"},"architecture":"x86_64","rootDeviceType":"ebs",`+
			`"rootDeviceName":"/dev/xvda","blockDeviceMapping":{},"virtualizationType":"hvm","hypervisor":"xen","tagSet":{"items":[%s]},`+
			`"clientToken":%q,"groupSet":{"items":[{"groupId":%q,"groupName":"app"}]},"sourceDestCheck":true,`+
			`"networkInterfaceSet":{"items":[{"networkInterfaceId":%q,"subnetId":%q,"vpcId":%q,"ownerId":%q,"status":"in-use",`+
			`"macAddress":"0a:%s:%s:%s:%s:%s","privateIpAddress":%q,"privateDnsName":%q,"sourceDestCheck":true,"interfaceType":"interface",`+
			`"groupSet":{"items":[{"groupId":%q,"groupName":"app"}]},"attachment":{"attachmentId":"eni-attach-%s","deviceIndex":0,`+
			`"networkCardIndex":0,"status":"attaching","attachTime":%d,"deleteOnTermination":true},`+
			`"privateIpAddressesSet":{"item":[{"privateIpAddress":%q,"privateDnsName":%q,"primary":true}]},"ipv6AddressesSet":{},"tagSet":{}}]},`+
			`"ebsOptimized":true,"enaSupport":true,"cpuOptions":{"coreCount":1,"threadsPerCore":2},`+
			`"capacityReservationSpecification":{"capacityReservationPreference":"open"},"hibernationOptions":{"configured":false},`+
			`"enclaveOptions":{"enabled":false},"metadataOptions":{"state":"pending","httpTokens":"required","httpPutResponseHopLimit":2,`+
			`"httpEndpoint":"enabled","httpProtocolIpv4":"enabled","httpProtocolIpv6":"disabled","instanceMetadataTags":"disabled"},`+
			`"maintenanceOptions":{"autoRecovery":"default"},"privateDnsNameOptions":{"hostnameType":"ip-name",`+
			`"enableResourceNameDnsARecord":false,"enableResourceNameDnsAAAARecord":false}}`,
			hexN(r, 17), image, dns, i, ms, az, subnet, vpc, ip, tagItems.String(), token, sg,
			eni, subnet, vpc, account, hexN(r, 2), hexN(r, 2), hexN(r, 2), hexN(r, 2), hexN(r, 2), ip, dns,
			sg, hexN(r, 17), ms, ip, dns)
	}
	resp := fmt.Sprintf(`{"requestId":%q,"reservationId":"r-%s","ownerId":%q,"groupSet":{},"instancesSet":{"items":[%s]}}`,
		uuid(r), hexN(r, 17), account, items.String())
	return fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"%[1]s:%[2]s",`+
		`"arn":"arn:aws:sts::%[3]s:assumed-role/deployer/%[2]s","accountId":"%[3]s","accessKeyId":"ASIA%[4]s",`+
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"%[1]s","arn":"arn:aws:iam::%[3]s:role/deployer",`+
		`"accountId":"%[3]s","userName":"deployer"},"webIdFederationData":{},"attributes":{"creationDate":"%[5]s","mfaAuthenticated":"false"}}},`+
		`"eventTime":"%[5]s","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"%[6]s",`+
		`"sourceIPAddress":"203.0.113.%[7]d","userAgent":"APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) `+
		`terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.2 os/linux lang/go#1.22.7 api/ec2#1.182.0",`+
		`"requestParameters":%[8]s,"responseElements":%[9]s,"requestID":"%[10]s","eventID":"%[11]s","readOnly":false,`+
		`"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[3]s","eventCategory":"Management",`+
		`"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.%[6]s.amazonaws.com"}}`,
		role, session, account, upperN(r, 16), ts, region, 1+r.IntN(254), req, resp, uuid(r), uuid(r))
}

// largeInput is four files of 1,000 RunInstances records: one of a single account whose
// records are about 5.6 KB each, and three of several accounts with records of 5 to 20 KB.
// RunInstances completes no detection: none is expected.
var largeInput = sync.OnceValue(func() *input {
	t := &panicT{}
	r := rand.New(rand.NewPCG(12, 12))
	in := &input{}
	accounts := []string{"210987654321", "345678901234", "456789012345", "567890123456"}
	for f := range 4 {
		account, region := accounts[f], []string{"us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"}[f]
		records := make([][]byte, 1000)
		for i := range records {
			at := start.Add(time.Duration(i) * 240 * time.Millisecond)
			size := 5000 + r.IntN(15001)
			if f == 0 {
				size = 5600
			}
			records[i] = runInstances(r, account, region, at, size)
		}
		in.add(key(r, account, region, start.Add(5*time.Minute)), records, ids(t, records))
	}
	return in
})

// Markers of the bad items that carry no event ID of their own.
const (
	noEventIDMarker = "faults-record-without-event-id"
	garbageNote     = "this is not an S3 notification"
	nullNote        = `{"Records":null}`
)

// badItem names a bad item of badInput and what must become of it.
type badItem struct {
	what string
	key  string // the file it is in; empty for a notification
	note string // the notification's body
	// index is the record's place in its file, -1 when it is not one record.
	index int
	// id is the event ID of the record, when it has one.
	id string
	// deliverable: delivered (once) or dead-lettered are both documented outcomes; else it
	// must be dead-lettered.
	deliverable bool
}

// badInput returns the bad-input files and notifications, the bad items in them, and the
// detection the good records of one account must still complete: a CreateUser and a
// DeleteUser two minutes apart, with a record dated year 3000 read between them.
func badInput(t testing.TB) (*input, []badItem, string) {
	r := rand.New(rand.NewPCG(13, 13))
	byAccount := map[string][][]byte{}
	var accounts []string
	for rec := range generate.Records(generate.Options{Events: 5000, Accounts: 2, Span: 4 * time.Minute, Start: start, Seed: 3}) {
		if readHeader(t, rec.JSON).EventSource == "iam.amazonaws.com" { // no other pair may complete a detection
			continue
		}
		if byAccount[rec.Account] == nil {
			accounts = append(accounts, rec.Account)
		}
		byAccount[rec.Account] = append(byAccount[rec.Account], rec.JSON)
	}
	a, b := accounts[0], accounts[1]
	take := func(account string, n int) [][]byte {
		out := byAccount[account][:n:n]
		byAccount[account] = byAccount[account][n:]
		return out
	}
	region := func(recs [][]byte) string { return readHeader(t, recs[0]).AWSRegion }
	in := &input{optional: map[string]bool{}}
	var bad []badItem
	fileKey := func(account string, recs [][]byte) string {
		return key(r, account, region(recs), start.Add(5*time.Minute))
	}
	// withBad returns good with rec placed at index.
	withBad := func(good [][]byte, index int, rec []byte) [][]byte {
		return slices.Concat(good[:index], [][]byte{rec}, good[index:])
	}

	good := take(a, 999)
	k := fileKey(a, good)
	in.add(k, withBad(good, 700, []byte(`"not a record"`)), ids(t, good))
	bad = append(bad, badItem{what: "a non-object at position 700 of 1,000 records", key: k, index: 700})

	good = take(b, 1000)
	k = fileKey(b, good)
	body, delivered := truncate(t, good)
	in.objects = append(in.objects, object{key: k, body: body, ids: delivered})
	in.records += len(good)
	in.ids = append(in.ids, delivered...)
	bad = append(bad, badItem{what: fmt.Sprintf("a gzip file truncated after %d of its 1,000 records", len(delivered)), key: k, index: len(delivered)})

	good = take(a, 300)
	k = fileKey(a, good)
	deep, deepID := deepRecord(r, a, region(good))
	in.add(k, withBad(good, 150, deep), ids(t, good))
	in.optional[deepID] = true
	bad = append(bad, badItem{what: "a record nested 10,000 levels deep", key: k, index: 150, id: deepID, deliverable: true})

	good = take(a, 300)
	k = fileKey(a, good)
	user := "faults-temp-" + hexN(r, 8)
	create := iamUser(r, "CreateUser", a, user, start.Add(time.Minute))
	del := iamUser(r, "DeleteUser", a, user, start.Add(3*time.Minute))
	future := yearThree(t, r, good[0])
	recs := slices.Concat(good[:100], [][]byte{create, future, del}, good[100:])
	pair := []string{readHeader(t, create).EventID, readHeader(t, del).EventID}
	in.add(k, recs, slices.Concat(ids(t, good), pair))
	bad = append(bad, badItem{what: "a record dated year 3000 between a CreateUser and a DeleteUser", key: k, index: 101,
		id: readHeader(t, future).EventID})

	good = take(b, 300)
	k = fileKey(b, good)
	in.add(k, withBad(good, 150, withoutEventID(t, good[0])), ids(t, good))
	bad = append(bad, badItem{what: "a record without eventID", key: k, index: 150, deliverable: true})

	good = take(b, 300)
	k = fileKey(b, good)
	huge := hugeRecord(r, b, region(good))
	in.add(k, withBad(good, 150, huge), ids(t, good))
	hugeID := readHeader(t, huge).EventID
	in.optional[hugeID] = true
	bad = append(bad, badItem{what: "a 2 MB record", key: k, index: 150, id: hugeID, deliverable: true})

	in.notes = []string{garbageNote, nullNote}
	in.records += 2
	bad = append(bad,
		badItem{what: "a garbage SQS message", note: garbageNote, index: -1},
		badItem{what: "the notification " + nullNote, note: nullNote, index: -1})
	return in, bad, detectionID("short-lived-iam-object", pair...)
}

// detectionID is a detection's ID as schemas/README.md and rules.DetectionID define it: the
// hex SHA-256 of the rule ID and the event IDs, each followed by a zero byte.
func detectionID(rule string, events ...string) string {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	for _, e := range events {
		h.Write([]byte(e))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// truncate returns records as a gzip file cut in the middle of its compressed bytes, and
// the event IDs of the records that lie wholly within what can still be gunzipped.
func truncate(t testing.TB, records [][]byte) ([]byte, []string) {
	full := gzipRecords(records)
	cut := full[:len(full)*3/5]
	zr, err := gzip.NewReader(bytes.NewReader(cut))
	if err != nil {
		t.Fatalf("gunzip the truncated file: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err == nil {
		t.Fatalf("the truncated file gunzips without error")
	}
	end := len(`{"Records":[`)
	var whole []string
	for _, rec := range records {
		end += len(rec)
		if end > len(plain) {
			break
		}
		whole = append(whole, readHeader(t, rec).EventID)
		end++ // the comma
	}
	if len(whole) == 0 || len(whole) == len(records) {
		t.Fatalf("the cut left %d of %d records whole", len(whole), len(records))
	}
	return cut, whole
}

// deepRecord returns a well-formed record whose requestParameters nest 10,000 levels deep,
// and its event ID.
func deepRecord(r *rand.Rand, account, region string) ([]byte, string) {
	const depth = 10000
	id := uuid(r)
	nested := strings.Repeat(`{"filter":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1)
	return fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"Root","principalId":"%[1]s","arn":"arn:aws:iam::%[1]s:root","accountId":"%[1]s"},`+
		`"eventTime":"%[2]s","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"%[3]s",`+
		`"sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.17.0","requestParameters":%[4]s,"responseElements":null,`+
		`"requestID":"%[5]s","eventID":"%[6]s","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,`+
		`"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
		account, start.Add(2*time.Minute).Format(time.RFC3339), region, nested, uuid(r), id), id
}

// hugeRecord returns a valid PutBucketPolicy record of about 2 MB: a policy of many
// statements.
func hugeRecord(r *rand.Rand, account, region string) []byte {
	var statements strings.Builder
	for i := 0; statements.Len() < 2<<20; i++ {
		if i > 0 {
			statements.WriteByte(',')
		}
		fmt.Fprintf(&statements, `{"Sid":"Allow%06d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:role/reader-%s"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::acme-data-%s","arn:aws:s3:::acme-data-%s/*"]}`,
			i, account, hexN(r, 8), account, account)
	}
	return fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"Root","principalId":"%[1]s","arn":"arn:aws:iam::%[1]s:root","accountId":"%[1]s"},`+
		`"eventTime":"%[2]s","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"%[3]s",`+
		`"sourceIPAddress":"198.51.100.9","userAgent":"aws-cli/2.17.0","requestParameters":{"bucketName":"acme-data-%[1]s","Host":"acme-data-%[1]s.s3.amazonaws.com",`+
		`"bucketPolicy":{"Version":"2012-10-17","Statement":[%[4]s]},"policy":""},"responseElements":null,`+
		`"requestID":"%[5]s","eventID":"%[6]s","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,`+
		`"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
		account, start.Add(2*time.Minute).Format(time.RFC3339), region, statements.String(), upperN(r, 16), uuid(r))
}

// iamUser returns a successful CreateUser or DeleteUser of user by an administrator.
func iamUser(r *rand.Rand, call, account, user string, at time.Time) []byte {
	resp := "null"
	if call == "CreateUser" {
		resp = fmt.Sprintf(`{"user":{"path":"/","userName":%q,"userId":"AIDA%s","arn":"arn:aws:iam::%s:user/%s","createDate":%q}}`,
			user, upperN(r, 17), account, user, at.Format("Jan 2, 2006, 3:04:05 PM"))
	}
	return fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA%[1]s","arn":"arn:aws:iam::%[2]s:user/ops-admin",`+
		`"accountId":"%[2]s","accessKeyId":"AKIA%[3]s","userName":"ops-admin"},"eventTime":"%[4]s","eventSource":"iam.amazonaws.com",`+
		`"eventName":"%[5]s","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.23","userAgent":"aws-cli/2.17.0 md/command#iam",`+
		`"requestParameters":{"userName":%[6]q},"responseElements":%[7]s,"requestID":"%[8]s","eventID":"%[9]s","readOnly":false,`+
		`"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[2]s","eventCategory":"Management"}`,
		upperN(r, 17), account, upperN(r, 16), at.Format(time.RFC3339), call, user, resp, uuid(r), uuid(r))
}

// yearThree returns rec as if it happened on 1 January 3000, under an event ID of its own.
func yearThree(t testing.TB, r *rand.Rand, rec []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatalf("%v", err)
	}
	m["eventTime"] = "3000-01-01T00:00:00Z"
	m["eventID"] = uuid(r)
	b, _ := json.Marshal(m)
	return b
}

// withoutEventID returns rec without its eventID, marked in its requestID.
func withoutEventID(t testing.TB, rec []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatalf("%v", err)
	}
	delete(m, "eventID")
	m["requestID"] = noEventIDMarker
	b, _ := json.Marshal(m)
	return b
}
