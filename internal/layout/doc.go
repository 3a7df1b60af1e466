// Package layout has no code of its own: its tests hold the module to its
// layout, so that a broken rule fails the build's tests instead of waiting
// for a reviewer.
//
//   - Each package's import rule, written in its package comment ("Import
//     rule: ..."), is checked against the imports of its files (imports_test.go,
//     one table entry per written rule, and no written rule without one).
//   - Layers point one way: no file under store/ or internal/, test files
//     included, imports the root package or any other package of the module
//     outside store/ and internal/; the root package imports only store and
//     packages under internal/.
//   - No function is over 150 lines, outside the command tables of cli/
//     (funclen_test.go).
//
// The tests parse the module's sources with go/parser; they need no build.
//
// Import rule: layout imports the standard library only.
package layout
