package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trailstream/trailstream/schemas"
)

// editFields returns schema with its field list passed through edit.
func editFields(t *testing.T, schema string, edit func([]map[string]any) []map[string]any) string {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal([]byte(schema), &rec); err != nil {
		t.Fatal(err)
	}
	var fields []map[string]any
	for _, f := range rec["fields"].([]any) {
		fields = append(fields, f.(map[string]any))
	}
	rec["fields"] = edit(fields)
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTableChecksSchema(t *testing.T) {
	event := eventCodec.fields
	detection := detectionCodec.fields
	for _, c := range []struct {
		name   string
		schema string
		fields []field[Event]
		want   string
	}{
		{"field added to the schema", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			return append(f, map[string]any{"name": "country", "type": "string", "default": ""})
		}), event, fmt.Sprintf(`field %d "country" (string) that the Go table lacks`, len(event))},
		{"field removed from the schema", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			return f[:len(f)-1]
		}), event, fmt.Sprintf(`the Go table has field %d %q`, len(event)-1, event[len(event)-1].name)},
		{"fields swapped in the schema", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			f[4], f[5] = f[5], f[4]
			return f
		}), event, `field 4 is "event_type" (string), the Go table has "event_name" (string)`},
		{"field renamed in the schema", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			f[8]["name"] = "source_ip_address"
			return f
		}), event, `"source_ip_address" (string), the Go table has "source_ip"`},
		{"boolean became a string", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			f[16]["type"], f[16]["default"] = "string", ""
			return f
		}), event, `field 16 is "mfa_used" (string), the Go table has "mfa_used" (boolean)`},
		{"time lost its logical type", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			f[1]["type"] = "long"
			return f
		}), event, `"event_time" (long), the Go table has "event_time" (timestamp-millis)`},
		{"time became micros", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			f[1]["type"] = map[string]any{"type": "long", "logicalType": "timestamp-micros"}
			return f
		}), event, `"event_time" ({"logicalType":"timestamp-micros","type":"long"})`},
		{"string became nullable", editFields(t, schemas.Event, func(f []map[string]any) []map[string]any {
			f[0]["type"] = []any{"null", "string"}
			return f
		}), event, `field 0 is "event_id" (["null","string"])`},
		{"table line missing", schemas.Event, event[:19], `field 19 "raw" (string) that the Go table lacks`},
		{"not a record", `{"type": "array", "items": "string"}`, event, "not an Avro record"},
		{"not a schema", `{"type": "record", "name": "x", "fields": [{"name": "a", "type": "nosuchtype"}]}`, event, "does not compile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := newTable(c.schema, c.fields...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("newTable error = %v, want one containing %s", err, c.want)
			}
		})
	}
	arrayOfInts := editFields(t, schemas.Detection, func(f []map[string]any) []map[string]any {
		f[9]["type"] = map[string]any{"type": "array", "items": "int"}
		return f
	})
	if _, err := newTable(arrayOfInts, detection...); err == nil || !strings.Contains(err.Error(), `"actors" (array<int>)`) {
		t.Fatalf("newTable accepted actors as an array of int: %v", err)
	}
	if _, err := newTable(schemas.Event, event...); err != nil {
		t.Fatalf("the event table does not match its own schema: %v", err)
	}
}

func TestMustTablePanicsOnMismatch(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `field 0 is "detection_id"`) {
			t.Fatalf("mustTable with the detection schema and the event table: panic %v", r)
		}
	}()
	mustTable(schemas.Detection, "detection", eventCodec.fields...)
}

// every is a record with a field of each kind the codec table knows.
type every struct {
	S string
	B bool
	D float64
	T time.Time
	A []string
}

const everySchema = `{"type": "record", "name": "Every", "fields": [
	{"name": "s", "type": "string"},
	{"name": "b", "type": "boolean"},
	{"name": "d", "type": "double"},
	{"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "a", "type": {"type": "array", "items": {"type": "string"}}}
]}`

func TestEveryKindMatchesGoavro(t *testing.T) {
	tab, err := newTable(everySchema,
		stringField("s", func(v *every) *string { return &v.S }),
		boolField("b", func(v *every) *bool { return &v.B }),
		doubleField("d", func(v *every) *float64 { return &v.D }),
		timeField("t", func(v *every) *time.Time { return &v.T }),
		stringsField("a", func(v *every) *[]string { return &v.A }),
	)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(everySchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   every
		json string
	}{
		{every{S: "x", B: true, D: 1.5, T: t0, A: []string{"a", "ü"}},
			`{"s":"x","b":true,"d":1.5,"t":"2017-09-27T20:00:10.000Z","a":["a","ü"]}`},
		{every{D: math.Copysign(0, -1), A: []string{}},
			`{"s":"","b":false,"d":-0,"t":"0001-01-01T00:00:00.000Z","a":[]}`},
		{every{D: -1e300}, `{"s":"","b":false,"d":-1e+300,"t":"0001-01-01T00:00:00.000Z","a":[]}`},
		{every{D: math.SmallestNonzeroFloat64}, `{"s":"","b":false,"d":5e-324,"t":"0001-01-01T00:00:00.000Z","a":[]}`},
		{every{D: math.Inf(1)}, `{"s":"","b":false,"d":"Infinity","t":"0001-01-01T00:00:00.000Z","a":[]}`},
		{every{D: math.Inf(-1)}, `{"s":"","b":false,"d":"-Infinity","t":"0001-01-01T00:00:00.000Z","a":[]}`},
		{every{D: math.NaN()}, `{"s":"","b":false,"d":"NaN","t":"0001-01-01T00:00:00.000Z","a":[]}`},
	} {
		in := c.in
		want, err := codec.SingleFromNative(nil, map[string]any{"s": in.S, "b": in.B, "d": in.D, "t": in.T, "a": anySlice(in.A)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := tab.encode(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%+v: bytes\n % x\nwant % x", in, got, want)
		}
		var back every
		if err := tab.decode(got, &back); err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(back.D) != math.Float64bits(in.D) || back.S != in.S || back.B != in.B || !back.T.Equal(in.T) ||
			len(back.A) != len(in.A) || (len(in.A) > 0 && !reflect.DeepEqual(back.A, in.A)) {
			t.Errorf("round trip of %+v gave %+v", in, back)
		}
		if j := tab.appendJSON(nil, &in); string(j) != c.json {
			t.Errorf("%+v: JSON %s, want %s", in, j, c.json)
		}
		if err := tab.decode(got[:len(got)-2], &back); err == nil {
			t.Errorf("%+v: truncated message decoded", in)
		}
	}
}

// rabin is CRC-64-AVRO as the Avro specification defines it.
func rabin(buf []byte) uint64 {
	const empty = 0xc15d213aa4d7a795
	var table [256]uint64
	for i := range table {
		fp := uint64(i)
		for j := 0; j < 8; j++ {
			fp = (fp >> 1) ^ (empty & -(fp & 1))
		}
		table[i] = fp
	}
	fp := uint64(empty)
	for _, b := range buf {
		fp = (fp >> 8) ^ table[byte(fp)^b]
	}
	return fp
}

func TestHeaderIsSpecFingerprint(t *testing.T) {
	// Test vectors of the Avro project (share/test/data/schema-tests.txt), as signed longs.
	for schema, want := range map[string]int64{
		`"null"`:    7195948357588979594,
		`"boolean"`: -6970731678124411036,
		`"int"`:     8247732601305521295,
		`{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}`: 7843277075252814651,
	} {
		if got := int64(rabin([]byte(schema))); got != want {
			t.Fatalf("rabin(%s) = %d, want %d", schema, got, want)
		}
	}
	for name, c := range map[string]struct {
		schema string
		header [10]byte
	}{
		"event":     {schemas.Event, eventCodec.header},
		"detection": {schemas.Detection, detectionCodec.header},
	} {
		codec, err := goavro.NewCodec(c.schema)
		if err != nil {
			t.Fatal(err)
		}
		canonical := codec.CanonicalSchema()
		if strings.Contains(canonical, "doc") || strings.Contains(canonical, "logicalType") || strings.Contains(canonical, "default") {
			t.Errorf("%s: canonical form keeps attributes the specification strips: %s", name, canonical)
		}
		want := [10]byte{0xC3, 0x01}
		binary.LittleEndian.PutUint64(want[2:], rabin([]byte(canonical)))
		if c.header != want {
			t.Errorf("%s: header % x, want % x", name, c.header, want)
		}
	}
}
