package model

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/linkedin/goavro/v2"
)

// kind is the Avro type of a field as the schema writes it; each kind has one Go type.
type kind uint8

const (
	kindString          kind = iota + 1 // "string"; Go string
	kindBoolean                         // "boolean"; Go bool
	kindDouble                          // "double"; Go float64
	kindTimestampMillis                 // {"type": "long", "logicalType": "timestamp-millis"}; Go time.Time
	kindStringArray                     // {"type": "array", "items": "string"}; Go []string
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindBoolean:
		return "boolean"
	case kindDouble:
		return "double"
	case kindTimestampMillis:
		return "timestamp-millis"
	case kindStringArray:
		return "array<string>"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// field binds one schema field to the Go struct field holding it: the accessor of its
// kind returns a pointer into the record, so that one table drives encoding, decoding
// and JSON rendering.
type field[T any] struct {
	name      string
	kind      kind
	str       func(*T) *string
	boolean   func(*T) *bool
	double    func(*T) *float64
	timestamp func(*T) *time.Time
	strs      func(*T) *[]string
}

// stringField, boolField, doubleField, timeField and stringsField make the table line of
// a field of each kind: its schema name and the accessor of the Go field.

func stringField[T any](name string, get func(*T) *string) field[T] {
	return field[T]{name: name, kind: kindString, str: get}
}

func boolField[T any](name string, get func(*T) *bool) field[T] {
	return field[T]{name: name, kind: kindBoolean, boolean: get}
}

func doubleField[T any](name string, get func(*T) *float64) field[T] {
	return field[T]{name: name, kind: kindDouble, double: get}
}

func timeField[T any](name string, get func(*T) *time.Time) field[T] {
	return field[T]{name: name, kind: kindTimestampMillis, timestamp: get}
}

func stringsField[T any](name string, get func(*T) *[]string) field[T] {
	return field[T]{name: name, kind: kindStringArray, strs: get}
}

// table is the Avro codec of one record type: its single-object header and its fields in
// schema order.
type table[T any] struct {
	header   [10]byte // 0xC3 0x01, then the CRC-64-AVRO fingerprint, little-endian
	fields   []field[T]
	keys     []string       // per field: its JSON key, quoted, with the colon
	older    map[uint64]int // fingerprint of an earlier schema version → its number of fields
	defaults []func(*T)     // per field: set it to its schema default
}

// mustTable is newTable for package initialization, reading also the messages of the
// earlier versions schemas/history/<history>.*.avsc: a table that does not match its
// embedded schemas is a programming error, reported at start.
func mustTable[T any](schema, history string, fields ...field[T]) *table[T] {
	t, err := newTable(schema, fields...)
	if err == nil {
		t, err = t.withHistory(schema, history)
	}
	if err != nil {
		panic("model: " + err.Error())
	}
	return t
}

// newTable checks fields against the record schema — same names, same order, same
// types — and computes the single-object header from the schema's fingerprint.
func newTable[T any](schema string, fields ...field[T]) (*table[T], error) {
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, fmt.Errorf("schema does not compile as Avro: %w", err)
	}
	var rec struct {
		Type   string
		Name   string
		Fields []struct {
			Name string
			Type json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(schema), &rec); err != nil || rec.Type != "record" {
		return nil, errors.New("schema is not an Avro record")
	}
	for i, sf := range rec.Fields {
		typ := typeName(sf.Type)
		if i >= len(fields) {
			return nil, fmt.Errorf("schema %s has field %d %q (%s) that the Go table lacks", rec.Name, i, sf.Name, typ)
		}
		if f := fields[i]; f.name != sf.Name || f.kind.String() != typ {
			return nil, fmt.Errorf("schema %s field %d is %q (%s), the Go table has %q (%s)", rec.Name, i, sf.Name, typ, f.name, f.kind)
		}
	}
	if len(fields) > len(rec.Fields) {
		f := fields[len(rec.Fields)]
		return nil, fmt.Errorf("the Go table has field %d %q (%s) that schema %s lacks", len(rec.Fields), f.name, f.kind, rec.Name)
	}
	t := &table[T]{header: [10]byte{0xC3, 0x01}, fields: fields}
	for _, f := range fields {
		t.keys = append(t.keys, string(appendJSONString(nil, f.name))+":")
	}
	binary.LittleEndian.PutUint64(t.header[2:], codec.Rabin)
	return t, nil
}

// typeName names the type of a schema field the way kind.String does; types no kind
// covers keep their JSON text, which matches no kind.
func typeName(raw json.RawMessage) string {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		return name
	}
	var t struct {
		Type        string
		LogicalType string
		Items       json.RawMessage
	}
	if json.Unmarshal(raw, &t) != nil {
		return string(raw)
	}
	switch {
	case t.Type == "long" && t.LogicalType == "timestamp-millis":
		return "timestamp-millis"
	case t.LogicalType != "":
		return string(raw)
	case t.Type == "array":
		return "array<" + typeName(t.Items) + ">"
	}
	return t.Type
}

// Bounds of the times timestamp-millis can hold: milliseconds since the Unix epoch in an int64.
var (
	minMillisTime = time.UnixMilli(math.MinInt64)
	maxMillisTime = time.UnixMilli(math.MaxInt64).Add(time.Millisecond - time.Nanosecond)
)

// size is an upper bound of the length of the single-object encoding of v.
func (t *table[T]) size(v *T) int {
	n := len(t.header)
	for i := range t.fields {
		f := &t.fields[i]
		switch f.kind {
		case kindString:
			n += stringSize(*f.str(v))
		case kindBoolean:
			n++
		case kindDouble:
			n += 8
		case kindTimestampMillis:
			n += binary.MaxVarintLen64
		case kindStringArray:
			s := *f.strs(v)
			n += 2 * binary.MaxVarintLen64
			for _, e := range s {
				n += stringSize(e)
			}
		}
	}
	return n
}

func stringSize(s string) int { return uvarintSize(uint64(len(s))<<1) + len(s) }

func uvarintSize(u uint64) int {
	n := 1
	for ; u >= 0x80; u >>= 7 {
		n++
	}
	return n
}

// encode appends the Avro single-object encoding of v to buf, growing buf at most once.
// It fails only for a time timestamp-millis cannot hold.
func (t *table[T]) encode(buf []byte, v *T) ([]byte, error) {
	return t.encodeAfter(buf, t.header[:], v)
}

// encodeAfter appends header, at most as long as the single-object header, then the Avro
// binary datum of v, growing buf at most once.
func (t *table[T]) encodeAfter(buf, header []byte, v *T) ([]byte, error) {
	if n := t.size(v); cap(buf)-len(buf) < n {
		buf = append(make([]byte, 0, len(buf)+n), buf...)
	}
	buf = append(buf, header...)
	for i := range t.fields {
		f := &t.fields[i]
		switch f.kind {
		case kindString:
			buf = appendString(buf, *f.str(v))
		case kindBoolean:
			var b byte
			if *f.boolean(v) {
				b = 1
			}
			buf = append(buf, b)
		case kindDouble:
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(*f.double(v)))
		case kindTimestampMillis:
			tm := *f.timestamp(v)
			if tm.Before(minMillisTime) || tm.After(maxMillisTime) {
				return nil, fmt.Errorf("%s %s is out of the range of timestamp-millis", f.name, tm)
			}
			buf = appendLong(buf, tm.UnixMilli())
		case kindStringArray:
			// One block holding every item, then the empty block that ends the array.
			if s := *f.strs(v); len(s) > 0 {
				buf = appendLong(buf, int64(len(s)))
				for _, e := range s {
					buf = appendString(buf, e)
				}
			}
			buf = append(buf, 0)
		}
	}
	return buf, nil
}

// appendLong appends v zig-zag varint encoded, as Avro writes int and long.
func appendLong(buf []byte, v int64) []byte {
	return binary.AppendUvarint(buf, uint64(v<<1)^uint64(v>>63))
}

func appendString(buf []byte, s string) []byte {
	return append(appendLong(buf, int64(len(s))), s...)
}

var errNotSingleObject = errors.New("not Avro single-object encoding")

// decode decodes the single-object encoding msg into v. Every string of v shares one
// copy of msg's datum: one allocation instead of one per field.
func (t *table[T]) decode(msg []byte, v *T) error {
	if len(msg) < len(t.header) || msg[0] != t.header[0] || msg[1] != t.header[1] {
		return errNotSingleObject
	}
	n, err := t.fieldCount(msg[:len(t.header)])
	if err != nil {
		return err
	}
	return t.decodeDatum(msg[len(t.header):], len(t.header), n, v)
}

// decodeDatum decodes the Avro binary datum b, written with the schema version of the
// table's first n fields, into v; at is the offset of b in its message, for errors.
func (t *table[T]) decodeDatum(b []byte, at, n int, v *T) error {
	d := decoder{b: b}
	d.s = string(d.b)
	for i := n; i < len(t.fields); i++ {
		t.defaults[i](v)
	}
	for i := range t.fields[:n] {
		f := &t.fields[i]
		var err error
		switch f.kind {
		case kindString:
			*f.str(v), err = d.string()
		case kindBoolean:
			*f.boolean(v), err = d.boolean()
		case kindDouble:
			*f.double(v), err = d.double()
		case kindTimestampMillis:
			var ms int64
			ms, err = d.long()
			*f.timestamp(v) = time.UnixMilli(ms).UTC()
		case kindStringArray:
			*f.strs(v), err = d.strings()
		}
		if err != nil {
			return fmt.Errorf("field %s at byte %d: %w", f.name, at+d.off, err)
		}
	}
	if rest := len(d.b) - d.off; rest > 0 {
		return fmt.Errorf("%d bytes after the end of the record", rest)
	}
	return nil
}

var (
	errTruncated = errors.New("message ends inside the value")
	errOverflow  = errors.New("varint overflows 64 bits")
)

// decoder reads an Avro binary datum. b and s hold the same bytes: numbers are read from
// b, strings are sliced from s.
type decoder struct {
	b   []byte
	s   string
	off int
}

func (d *decoder) long() (int64, error) {
	u, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		return 0, errTruncated
	case n < 0:
		return 0, errOverflow
	}
	d.off += n
	return int64(u>>1) ^ -int64(u&1), nil
}

// length reads a length or count: at least 0, at most the bytes left.
func (d *decoder) length() (int, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(len(d.b)-d.off) {
		return 0, fmt.Errorf("length %d with %d bytes left", n, len(d.b)-d.off)
	}
	return int(n), nil
}

func (d *decoder) string() (string, error) {
	n, err := d.length()
	if err != nil {
		return "", err
	}
	s := d.s[d.off : d.off+n]
	d.off += n
	return s, nil
}

func (d *decoder) boolean() (bool, error) {
	if d.off >= len(d.b) {
		return false, errTruncated
	}
	b := d.b[d.off]
	if b > 1 {
		return false, fmt.Errorf("boolean byte %#x is neither 0 nor 1", b)
	}
	d.off++
	return b == 1, nil
}

func (d *decoder) double() (float64, error) {
	if len(d.b)-d.off < 8 {
		return 0, errTruncated
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	return f, nil
}

// strings reads an array of strings: blocks of items, each led by its item count, up to an
// empty block. A negative count is followed by the block's size in bytes, which is skipped.
func (d *decoder) strings() ([]string, error) {
	out := []string{}
	for {
		n, err := d.long()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		if n < 0 {
			if _, err := d.long(); err != nil {
				return nil, err
			}
			n = -n // math.MinInt64 stays negative and fails the check below
		}
		// Every item takes at least one byte, its length.
		if n < 0 || n > int64(len(d.b)-d.off) {
			return nil, fmt.Errorf("array block of %d items with %d bytes left", n, len(d.b)-d.off)
		}
		if len(out) == 0 {
			out = make([]string, 0, n)
		}
		for ; n > 0; n-- {
			s, err := d.string()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
}
