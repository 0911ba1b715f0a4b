package console

// SetMaxEventsExport bounds the JSON-lines download to n events until the returned function
// restores the bound.
func SetMaxEventsExport(n int) (restore func()) {
	old := maxEventsExport
	maxEventsExport = n
	return func() { maxEventsExport = old }
}
