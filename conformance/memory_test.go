package conformance_test

import (
	"testing"

	"github.com/aiflow-go/aiflow/conformance"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestMemory runs the conformance suite on the memory store.
func TestMemory(t *testing.T) {
	conformance.Run(t, func(t *testing.T) store.Store { return memory.New(nil) })
}
