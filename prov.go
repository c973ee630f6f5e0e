// Package prov holds the domain of Prov: provenance records in W3C PROV terms
// (entities, activities, agents), the errors every layer speaks, and the small
// storage contract that the log is built on.
//
// Subpackages implement the contracts for one technology each (sqlite,
// postgres), build behaviour on top of them (tlog: the tamper-evident log), and
// cmd/prov wires them into the command line. The subpackages do not know about
// one another.
package prov

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that each edge (CLI exit code, HTTP status) can
// map it in one place.
type Kind string

// Error kinds. Callers branch on these, never on message text.
const (
	Invalid      Kind = "invalid"      // the input is wrong: fix it and retry
	NotFound     Kind = "not_found"    // the thing asked for does not exist
	Conflict     Kind = "conflict"     // the state does not allow it (already initialised, …)
	Unauthorized Kind = "unauthorized" // credentials missing or insufficient
	Tampered     Kind = "tampered"     // stored data fails verification
	Unavailable  Kind = "unavailable"  // a dependency cannot be reached: retry later
	Internal     Kind = "internal"     // a bug or an unexpected failure
)

// Error is an error with a kind and a message meant for the user: it says what
// was wrong and, where it can, what to do.
type Error struct {
	Kind    Kind
	Message string
	Err     error // the underlying cause, if any; not shown to users
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return string(e.Kind)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message. If one
// of the arguments is an error and the format uses %w, it becomes the cause.
func Errorf(kind Kind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal when
// there is none (nil gives "").
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// IsKind reports whether err's kind is k.
func IsKind(err error, k Kind) bool { return err != nil && KindOf(err) == k }
