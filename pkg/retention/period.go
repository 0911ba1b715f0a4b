// Package retention keeps the events and detections tables of ClickHouse to a retention
// period: on servers without TTL (ClickHouse 18.16) by dropping the monthly partitions that
// hold only rows older than the period, on servers with TTL (19.6 and later) by setting the
// tables' TTL. Every statement it sends is in this package.
package retention

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is the unit a retention is kept in: the TTL clause counts days.
const Day = 24 * time.Hour

// MaxDays is the longest retention accepted, a hundred years: longer is forever in practice
// and would overflow a time.Duration soon after.
const MaxDays = 36500

// Period is how long rows are kept; 0 keeps them for ever. It is a flag.Value that takes
// the form Parse reads and prints as Format does.
type Period time.Duration

// String formats p as Format does.
func (p *Period) String() string {
	if p == nil {
		return "0"
	}
	return Format(time.Duration(*p))
}

// Set parses s with Parse.
func (p *Period) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*p = Period(d)
	return nil
}

// Duration returns p as a time.Duration.
func (p Period) Duration() time.Duration { return time.Duration(p) }

// Parse reads a retention: a whole number followed by d (days), w (weeks) or h (hours),
// such as 400d, 13w or 8760h; "0" or "" mean for ever (0 is returned). The period must be
// whole days (TTL counts days) and at most MaxDays.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if len(s) < 2 {
		return 0, fmt.Errorf("retention %q: want a number and a unit, such as 400d, 13w or 8760h, or 0 for ever", s)
	}
	num, unit := s[:len(s)-1], s[len(s)-1]
	var hours uint64
	switch unit {
	case 'h':
		hours = 1
	case 'd':
		hours = 24
	case 'w':
		hours = 7 * 24
	default:
		return 0, fmt.Errorf("retention %q: unit %q is not h, d or w (such as 400d, 13w or 8760h, or 0 for ever)", s, string(unit))
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("retention %q: %q is not a whole number", s, num)
		}
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("retention %q: longer than %d days", s, MaxDays)
		}
		return 0, fmt.Errorf("retention %q: %w", s, err)
	}
	h := n * hours
	if h%24 != 0 {
		return 0, fmt.Errorf("retention %q: not a whole number of days (ClickHouse's TTL counts days)", s)
	}
	if h/24 > MaxDays {
		return 0, fmt.Errorf("retention %q: longer than %d days", s, MaxDays)
	}
	return time.Duration(h) * time.Hour, nil
}

// Format writes d as Parse reads it: "0" for ever, else whole weeks as w, whole days as d
// (a duration that is not whole days, which Parse never returns, in hours rounded up).
func Format(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	days := Days(d)
	if days%7 == 0 && time.Duration(days)*Day == d {
		return strconv.FormatInt(days/7, 10) + "w"
	}
	if time.Duration(days)*Day == d {
		return strconv.FormatInt(days, 10) + "d"
	}
	return strconv.FormatInt(int64((d+time.Hour-1)/time.Hour), 10) + "h"
}

// Days returns d in whole days, rounded up: a TTL never keeps less than d.
func Days(d time.Duration) int64 {
	return int64((d + Day - 1) / Day)
}
