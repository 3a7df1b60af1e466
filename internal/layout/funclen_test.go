package layout

import (
	"go/ast"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function may be, from its func keyword to
// its closing brace.
const maxFuncLines = 150

// longFuncExceptions lists the functions over maxFuncLines that predate this
// test, as "path:Func" (methods by their name alone). Each waits to be split
// by the work on its package: remove an entry when its function is split; add
// none.
var longFuncExceptions = map[string]bool{
	"aiflow_test.go:TestRegisterValidation": true,
}

// TestFunctionLength checks that no function is over maxFuncLines lines,
// test files included, outside cli/ (whose command tables are long by
// nature: one cobra command with its flags and help).
func TestFunctionLength(t *testing.T) {
	m := loadModule(t)
	seen := map[string]bool{}
	for _, f := range m.files {
		if f.dir == "cli" || strings.HasPrefix(f.dir, "cli/") {
			continue
		}
		for _, decl := range f.ast.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			key := f.path() + ":" + fd.Name.Name
			seen[key] = true
			n := f.fset.Position(fd.End()).Line - f.fset.Position(fd.Pos()).Line + 1
			switch {
			case n > maxFuncLines && !longFuncExceptions[key]:
				t.Errorf("%s is %d lines, over %d: split it into steps with names", key, n, maxFuncLines)
			case n <= maxFuncLines && longFuncExceptions[key]:
				t.Errorf("%s is %d lines now: remove it from longFuncExceptions", key, n)
			}
		}
	}
	for key := range longFuncExceptions {
		if !seen[key] {
			t.Errorf("longFuncExceptions lists %s, which no longer exists: remove the entry", key)
		}
	}
}
