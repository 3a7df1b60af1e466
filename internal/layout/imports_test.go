package layout

import (
	"slices"
	"strings"
	"testing"
)

// importRule is a package's written import rule, as a test can check it.
type importRule struct {
	// module lists the module's packages the package may import, as
	// directories relative to the module root ("." is the root package).
	module []string
	// other lists the import paths (or path prefixes, whole elements) of
	// other modules the package may import. The standard library is always
	// allowed.
	other []string
}

// Common other modules.
const (
	pgx       = "github.com/jackc/pgx/v5"
	river     = "github.com/riverqueue/river"
	clockwork = "github.com/jonboulle/clockwork"
	testify   = "github.com/stretchr/testify"
)

// importRules holds, for each package directory whose package comment says
// "Import rule:", that rule. It applies to the package's non-test files; the
// layering rules of TestLayers cover test files too.
var importRules = map[string]importRule{
	"store":              {},
	"store/memory":       {module: []string{"store", "internal/startstop"}, other: []string{clockwork}},
	"store/postgres":     {module: []string{"store", "internal/leader", "internal/startstop"}, other: []string{pgx, river}},
	"internal/engine":    {module: []string{"store"}},
	"internal/runtime":   {module: []string{"store", "internal/engine", "internal/startstop"}, other: []string{clockwork}},
	"internal/leader":    {module: []string{"internal/startstop"}, other: []string{pgx}},
	"internal/startstop": {},
	"internal/schedule":  {other: []string{"github.com/robfig/cron/v3"}},
	"internal/timer": {module: []string{"store", "internal/engine", "internal/schedule", "internal/startstop"},
		other: []string{"github.com/go-co-op/gocron/v2", "github.com/google/uuid", clockwork}},
	"internal/view":   {},
	"internal/layout": {},
	"operators":       {module: []string{"."}},
	"aiflowhttp":      {module: []string{".", "internal/view"}, other: []string{"go.opentelemetry.io/otel"}},
	"aiflowui":        {module: []string{".", "aiflowhttp", "internal/view"}},
	"cli": {module: []string{".", "store/postgres", "internal/view"},
		other: []string{pgx, "github.com/spf13/cobra", "github.com/spf13/pflag", "golang.org/x/term", "go.yaml.in/yaml/v3"}},
	"aiflowtest":       {module: []string{".", "store/memory"}, other: []string{clockwork}},
	"conformance":      {module: []string{".", "operators", "store"}, other: []string{testify}},
	"cmd/aiflow-bench": {module: []string{".", "operators", "store", "store/postgres"}, other: []string{pgx, river}},
}

func TestImportRules(t *testing.T) {
	m := loadModule(t)
	written := map[string]bool{}
	for _, f := range m.files {
		if f.ast.Doc != nil && strings.Contains(f.ast.Doc.Text(), "Import rule:") {
			written[f.dir] = true
		}
		rule, ok := importRules[f.dir]
		if !ok || f.test {
			continue
		}
		for _, imp := range f.imports {
			if !rule.allows(m, imp) {
				t.Errorf("%s imports %s, which the import rule of %s does not allow (see its package comment)", f.path(), imp, f.dir)
			}
		}
	}
	for dir := range written {
		if _, ok := importRules[dir]; !ok {
			t.Errorf("package %s writes an import rule that importRules does not check: add it to the table", dir)
		}
	}
	for dir := range importRules {
		if !written[dir] {
			t.Errorf("importRules checks %s, whose package comment writes no import rule: write it, or drop the entry", dir)
		}
	}
}

func (r importRule) allows(m *module, imp string) bool {
	if dir, ok := m.dirOf(imp); ok {
		return slices.Contains(r.module, dir)
	}
	if isStd(imp) {
		return true
	}
	return slices.ContainsFunc(r.other, func(prefix string) bool { return imp == prefix || strings.HasPrefix(imp, prefix+"/") })
}

// TestLayers checks that layers point one way: the store and internal
// layers (test files included) import nothing of the module above them, and
// the root package imports only those layers.
func TestLayers(t *testing.T) {
	m := loadModule(t)
	for _, f := range m.files {
		switch {
		case isLower(f.dir):
			for _, imp := range f.imports {
				if dir, ok := m.dirOf(imp); ok && !isLower(dir) {
					t.Errorf("%s imports %s: nothing under store/ or internal/ imports the root package or another package above those layers", f.path(), imp)
				}
			}
		case f.dir == "." && !f.test:
			for _, imp := range f.imports {
				if dir, ok := m.dirOf(imp); ok && !isLower(dir) {
					t.Errorf("%s imports %s: the root package imports only store and packages under internal/", f.path(), imp)
				}
			}
		}
	}
}

// isLower reports whether the package in dir is in the store or internal
// layers.
func isLower(dir string) bool {
	for _, top := range []string{"store", "internal"} {
		if dir == top || strings.HasPrefix(dir, top+"/") {
			return true
		}
	}
	return false
}

// dirOf returns the directory of a module package's import path.
func (m *module) dirOf(imp string) (string, bool) {
	if imp == m.path {
		return ".", true
	}
	rest, ok := strings.CutPrefix(imp, m.path+"/")
	return rest, ok
}

// isStd reports whether an import path is the standard library's: its first
// element has no dot.
func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}
