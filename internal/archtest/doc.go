// Package archtest holds tests that enforce the import layering of the
// thingcore module and that every package carries a doc comment.
//
// The rules live in imports_test.go, one table row per rule with the reason
// for it; docs/architecture.md describes the layers they protect. The
// package has no non-test code and nothing may import it.
package archtest
