package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is the first byte of a message in the Confluent wire format.
const Magic = 0x00

// HeaderLen is the length of the wire format's header: the magic byte and the schema ID.
const HeaderLen = 5

// Header returns the wire format's header of schema id.
func Header(id uint32) [HeaderLen]byte {
	var h [HeaderLen]byte
	binary.BigEndian.PutUint32(h[1:], id)
	return h
}

// ErrNotFramed is Split's error for a message that does not start with the wire format's
// header.
var ErrNotFramed = errors.New("not in the Confluent wire format")

// Split returns the schema ID and the datum of a message in the Confluent wire format. It
// fails on a message shorter than the header, of another magic byte, or of schema ID 0,
// which no registry hands out. The datum shares msg's bytes.
func Split(msg []byte) (id uint32, datum []byte, err error) {
	if len(msg) < HeaderLen || msg[0] != Magic {
		return 0, nil, ErrNotFramed
	}
	id = binary.BigEndian.Uint32(msg[1:HeaderLen])
	if id == 0 || id > 1<<31-1 {
		return 0, nil, fmt.Errorf("%w: schema ID %d is out of the registry's range", ErrNotFramed, id)
	}
	return id, msg[HeaderLen:], nil
}

// Framed reports whether msg starts like a message in the Confluent wire format.
func Framed(msg []byte) bool { return len(msg) > 0 && msg[0] == Magic }
