package layout

import (
	"go/ast"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function may be, from its func keyword to
// its closing brace.
const maxFuncLines = 150

// TestFunctionLength checks that no function is over maxFuncLines lines,
// test files included, outside cli/ (whose command tables are long by
// nature: one cobra command with its flags and help).
func TestFunctionLength(t *testing.T) {
	m := loadModule(t)
	for _, f := range m.files {
		if f.dir == "cli" || strings.HasPrefix(f.dir, "cli/") {
			continue
		}
		for _, decl := range f.ast.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := f.fset.Position(fd.End()).Line - f.fset.Position(fd.Pos()).Line + 1; n > maxFuncLines {
				t.Errorf("%s:%s is %d lines, over %d: split it into steps with names", f.path(), fd.Name.Name, n, maxFuncLines)
			}
		}
	}
}
