package layout

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sourceFile is one parsed Go file of the module.
type sourceFile struct {
	dir     string // package directory, relative to the module root, slash-separated ("." for the root)
	name    string // file name
	test    bool   // a _test.go file
	imports []string
	ast     *ast.File
	fset    *token.FileSet
}

func (f *sourceFile) path() string { return filepath.ToSlash(filepath.Join(f.dir, f.name)) }

// module is the parsed module: its path and its Go files, outside testdata
// directories, hidden directories and nested modules.
type module struct {
	path  string
	files []*sourceFile
}

// loadModule parses every Go file of the module this test runs in.
func loadModule(t *testing.T) *module {
	t.Helper()
	root := moduleRoot(t)
	m := &module{path: modulePath(t, filepath.Join(root, "go.mod"))}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return skipDir(root, p, d.Name())
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parseFile(root, p)
		if err != nil {
			return err
		}
		m.files = append(m.files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.files) == 0 {
		t.Fatalf("no Go file found under %s", root)
	}
	return m
}

// skipDir returns filepath.SkipDir for directories that are not part of the
// module's packages.
func skipDir(root, p, name string) error {
	if p == root {
		return nil
	}
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" {
		return filepath.SkipDir
	}
	if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
		return filepath.SkipDir // a module of its own
	}
	return nil
}

func parseFile(root, p string) (*sourceFile, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	sf := &sourceFile{dir: filepath.ToSlash(rel), name: filepath.Base(p), test: strings.HasSuffix(p, "_test.go"), ast: f, fset: fset}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		sf.imports = append(sf.imports, path)
	}
	return sf, nil
}

// moduleRoot is the nearest directory above the test's working directory
// holding a go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// modulePath reads the module line of a go.mod.
func modulePath(t *testing.T, gomod string) string {
	t.Helper()
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("%s has no module line", gomod)
	return ""
}
