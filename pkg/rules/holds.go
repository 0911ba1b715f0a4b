package rules

import "slices"

// holds counts, per partition, the events a rule holds state from, so that Oldest is
// cheap: a rule adds the position of each event it keeps and releases it when the state
// goes. Positions usually arrive in increasing order per partition (events are read in
// order); one that does not is placed where it belongs.
type holds struct {
	parts map[int]*offsets
	n     int
}

// offsets are the held offsets of one partition, ascending, with how often each is held;
// released offsets are dropped from the front lazily.
type offsets struct {
	list []int64
	refs map[int64]int
}

func (h *holds) add(p Position) {
	if h.parts == nil {
		h.parts = make(map[int]*offsets)
	}
	o := h.parts[p.Partition]
	if o == nil {
		o = &offsets{refs: make(map[int64]int)}
		h.parts[p.Partition] = o
	}
	h.n++
	if o.refs[p.Offset]++; o.refs[p.Offset] > 1 {
		return
	}
	if n := len(o.list); n == 0 || o.list[n-1] < p.Offset {
		o.list = append(o.list, p.Offset)
		return
	}
	if i, found := slices.BinarySearch(o.list, p.Offset); !found { // released, not yet dropped: it is there
		o.list = slices.Insert(o.list, i, p.Offset)
	}
}

func (h *holds) release(p Position) {
	o := h.parts[p.Partition]
	if o == nil || o.refs[p.Offset] == 0 {
		return
	}
	h.n--
	if o.refs[p.Offset]--; o.refs[p.Offset] > 0 {
		return
	}
	delete(o.refs, p.Offset)
	if len(o.refs) == 0 {
		delete(h.parts, p.Partition)
		return
	}
	i := 0
	for i < len(o.list) && o.refs[o.list[i]] == 0 {
		i++
	}
	o.list = o.list[i:]
	// Released offsets in the middle stay until they reach the front; bound the waste.
	if len(o.list) > 2*len(o.refs)+64 {
		o.list = slices.DeleteFunc(o.list, func(off int64) bool { return o.refs[off] == 0 })
	}
}

// oldest returns the lowest held offset of partition.
func (h *holds) oldest(partition int) (int64, bool) {
	o := h.parts[partition]
	if o == nil {
		return 0, false
	}
	return o.list[0], true
}
