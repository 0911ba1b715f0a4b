package console_test

import (
	"testing"

	"github.com/trailstream/trailstream/services/console/consoletest"
)

func TestOverviewInBrowser(t *testing.T) {
	f := newFixture(t)
	consoletest.AssertOverviewRendered(t, f.srv.URL)
}
