package conformance_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Announce()
	goleak.VerifyTestMain(m, pgtest.LeakOptions()...)
}
