package console

import "time"

// SetMaxEventsExport bounds the JSON-lines download to n events until the returned function
// restores the bound.
func SetMaxEventsExport(n int) (restore func()) {
	old := maxEventsExport
	maxEventsExport = n
	return func() { maxEventsExport = old }
}

// WithClock returns o with the clock the sources page counts lag, today and the
// completeness grace from.
func WithClock(o Options, now func() time.Time) Options {
	o.now = now
	return o
}

// Routes returns every route of the console with the role it needs.
func Routes() []Route { return (&server{}).routes() }
