package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trailstream/trailstream/schemas"
)

// withHistory lets t decode messages written with the earlier schema versions named
// schemas/history/<prefix>.*.avsc. Each must be a leading part of t's schema (versions only
// append fields); the fields it lacks take the current schema's defaults.
func (t *table[T]) withHistory(schema, prefix string) (*table[T], error) {
	defaults, err := fieldDefaults(schema, t.fields)
	if err != nil {
		return nil, err
	}
	t.defaults = defaults
	t.older = map[uint64]int{}
	files, err := fs.Glob(schemas.History, "history/"+prefix+".*.avsc")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := fs.ReadFile(schemas.History, f)
		if err != nil {
			return nil, err
		}
		n, fp, err := leadingPart(string(b), t.fields)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(f), err)
		}
		t.older[fp] = n
	}
	return t, nil
}

// leadingPart checks that schema's fields are the first fields of the table and returns
// their number and the schema's fingerprint.
func leadingPart[T any](schema string, fields []field[T]) (int, uint64, error) {
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		return 0, 0, fmt.Errorf("schema does not compile as Avro: %w", err)
	}
	var rec struct {
		Fields []struct {
			Name string
			Type json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(schema), &rec); err != nil {
		return 0, 0, err
	}
	if len(rec.Fields) > len(fields) {
		return 0, 0, fmt.Errorf("has %d fields, more than the current %d", len(rec.Fields), len(fields))
	}
	for i, sf := range rec.Fields {
		if f := fields[i]; f.name != sf.Name || f.kind.String() != typeName(sf.Type) {
			return 0, 0, fmt.Errorf("field %d is %q (%s) where the current schema has %q (%s): versions may only append fields",
				i, sf.Name, typeName(sf.Type), f.name, f.kind)
		}
	}
	return len(rec.Fields), codec.Rabin, nil
}

// fieldDefaults returns, for each field of the table, what sets it to its schema default.
func fieldDefaults[T any](schema string, fields []field[T]) ([]func(*T), error) {
	var rec struct {
		Fields []struct {
			Name    string
			Default json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(schema), &rec); err != nil {
		return nil, err
	}
	out := make([]func(*T), len(fields))
	for i, f := range fields {
		def := rec.Fields[i].Default
		var err error
		switch f.kind {
		case kindString:
			var s string
			err = unmarshalDefault(def, &s)
			out[i] = func(v *T) { *f.str(v) = s }
		case kindBoolean:
			var b bool
			err = unmarshalDefault(def, &b)
			out[i] = func(v *T) { *f.boolean(v) = b }
		case kindDouble:
			var d float64
			err = unmarshalDefault(def, &d)
			out[i] = func(v *T) { *f.double(v) = d }
		case kindStringArray:
			var a []string
			err = unmarshalDefault(def, &a)
			out[i] = func(v *T) { *f.strs(v) = append([]string{}, a...) }
		case kindTimestampMillis:
			var ms int64
			err = unmarshalDefault(def, &ms)
			out[i] = func(v *T) { *f.timestamp(v) = time.UnixMilli(ms).UTC() }
		}
		if err != nil {
			return nil, fmt.Errorf("default of field %s: %w", f.name, err)
		}
	}
	return out, nil
}

// unmarshalDefault reads a schema default; a field without one takes the zero value.
func unmarshalDefault(def json.RawMessage, v any) error {
	if len(def) == 0 {
		return nil
	}
	return json.Unmarshal(def, v)
}

// fieldCount returns how many leading fields a message with the given header carries: all
// of them for the current schema, fewer for an earlier version, an error for others.
func (t *table[T]) fieldCount(header []byte) (int, error) {
	if string(header[2:]) == string(t.header[2:len(t.header)]) {
		return len(t.fields), nil
	}
	return t.fieldsOf(binary.LittleEndian.Uint64(header[2:]))
}

// fieldsOf returns how many leading fields the schema of fingerprint fp has: all of them
// for the current schema, fewer for an earlier version, an error for others.
func (t *table[T]) fieldsOf(fp uint64) (int, error) {
	if fp == t.fingerprint() {
		return len(t.fields), nil
	}
	if n, ok := t.older[fp]; ok {
		return n, nil
	}
	var known []string
	for f := range t.older {
		known = append(known, fmt.Sprintf("%016x", f))
	}
	return 0, fmt.Errorf("written with an unknown schema fingerprint %016x (this binary reads %016x and %s)",
		fp, binary.LittleEndian.Uint64(t.header[2:]), strings.Join(known, ", "))
}

// fingerprint is the CRC-64-AVRO (Rabin) fingerprint of the table's current schema.
func (t *table[T]) fingerprint() uint64 { return binary.LittleEndian.Uint64(t.header[2:]) }
