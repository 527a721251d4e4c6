package engine

import (
	"strings"

	"github.com/rotorhq/rotor/codec"
)

// Publication tags filters (`subscribe.tf`, client protocol §4.12).
//
// The semantics follow Centrifugo (centrifuge's internal/filter):
//
//   - eq: the key is present and its value equals val.
//   - neq: the key is absent, or its value differs from val.
//   - in: the tag value is one of vals. An absent key is looked up as the
//     empty string, so it matches only when vals contains "".
//   - nin: the negation of in (an absent key matches unless vals has "").
//   - ex / nex: the key is present / absent (an empty value is present).
//   - sw / ew / ct: the key is present and its value starts with / ends
//     with / contains val.
//   - lt / lte / gt / gte: the key is present and both the value and val are
//     decimal numbers ([+-]digits[.digits], at most 19 fraction digits, at
//     most 200 characters; no exponent, no spaces, no NaN/Inf), compared
//     exactly. Anything unparseable does not match.
//   - and: every child matches; or: some child matches; not: its only child
//     does not match.
//
// Validation rules are Centrifugo's, plus Rotor's bounds on depth, node
// count and the total number of `vals`; an invalid filter is answered with
// error 107.

const (
	filterMaxDepth  = 16   // levels, the root being level 1
	filterMaxNodes  = 256  // and/or/not/leaf nodes in the whole tree
	filterMaxValues = 1024 // `vals` entries in the whole tree
	// decimalMaxLen and decimalMaxFrac are the limits of the decimal parser
	// Centrifugo uses for numeric comparisons (udecimal).
	decimalMaxLen  = 200
	decimalMaxFrac = 19
)

// filterError is a static validation error (no allocation when returned).
type filterError string

func (e filterError) Error() string { return "invalid tags filter: " + string(e) }

const (
	errFilterNilNode      = filterError("nil node")
	errFilterBadOp        = filterError("unknown op")
	errFilterNoChildren   = filterError("and/or node must have at least one child")
	errFilterNotChildren  = filterError("not node must have exactly one child")
	errFilterNoCmp        = filterError("leaf node must have cmp set")
	errFilterBadCmp       = filterError("unknown comparison operator")
	errFilterNeedsVal     = filterError("comparison requires val")
	errFilterNoVals       = filterError("comparison must not use vals")
	errFilterNeedsVals    = filterError("in/nin comparison requires non-empty vals")
	errFilterNoVal        = filterError("in/nin comparison must not use val")
	errFilterExistsValues = filterError("ex/nex comparison must not use val or vals")
	errFilterNoKey        = filterError("leaf node requires key")
	errFilterTooDeep      = filterError("too deep")
	errFilterTooManyNodes = filterError("too many nodes")
	errFilterTooManyVals  = filterError("too many values")
)

// validateFilter checks a client-supplied tags filter. Any error means the
// subscribe request is answered with ErrorBadRequest (107).
func validateFilter(f *codec.FilterNode) error {
	var nodes, values int
	return validateFilterNode(f, 1, &nodes, &values)
}

func validateFilterNode(f *codec.FilterNode, depth int, nodes, values *int) error {
	if f == nil {
		return errFilterNilNode
	}
	if depth > filterMaxDepth {
		return errFilterTooDeep
	}
	*nodes++
	if *nodes > filterMaxNodes {
		return errFilterTooManyNodes
	}
	switch f.Op {
	case "":
		return validateFilterLeaf(f, values)
	case "and", "or":
		if len(f.Nodes) == 0 {
			return errFilterNoChildren
		}
	case "not":
		if len(f.Nodes) != 1 {
			return errFilterNotChildren
		}
	default:
		return errFilterBadOp
	}
	for _, c := range f.Nodes {
		if err := validateFilterNode(c, depth+1, nodes, values); err != nil {
			return err
		}
	}
	return nil
}

// validateFilterLeaf checks a leaf. As in Centrifugo, children of a leaf
// (and key/cmp/val of inner nodes) are ignored rather than rejected.
func validateFilterLeaf(f *codec.FilterNode, values *int) error {
	switch f.Cmp {
	case "":
		return errFilterNoCmp
	case "eq", "neq", "sw", "ew", "ct", "lt", "lte", "gt", "gte":
		if f.Val == "" {
			return errFilterNeedsVal
		}
		if len(f.Vals) > 0 {
			return errFilterNoVals
		}
	case "in", "nin":
		if len(f.Vals) == 0 {
			return errFilterNeedsVals
		}
		if f.Val != "" {
			return errFilterNoVal
		}
		*values += len(f.Vals)
		if *values > filterMaxValues {
			return errFilterTooManyVals
		}
	case "ex", "nex":
		if f.Val != "" || len(f.Vals) > 0 {
			return errFilterExistsValues
		}
		return nil // ex/nex may test the empty key
	default:
		return errFilterBadCmp
	}
	if f.Key == "" {
		return errFilterNoKey
	}
	return nil
}

// matchFilter reports whether a publication with the given tags passes the
// filter. A nil filter passes everything. It is meant for validated filters;
// on an invalid one (unknown op or cmp, a not without exactly one child) the
// offending node does not match, as in Centrifugo, and it never panics. It
// does not allocate.
func matchFilter(f *codec.FilterNode, tags map[string]string) bool {
	if f == nil {
		return true
	}
	switch f.Op {
	case "":
		return matchFilterLeaf(f, tags)
	case "and":
		for _, c := range f.Nodes {
			if !matchFilter(c, tags) {
				return false
			}
		}
		return true
	case "or":
		for _, c := range f.Nodes {
			if matchFilter(c, tags) {
				return true
			}
		}
		return false
	case "not":
		if len(f.Nodes) != 1 {
			return false
		}
		return !matchFilter(f.Nodes[0], tags)
	}
	return false
}

func matchFilterLeaf(f *codec.FilterNode, tags map[string]string) bool {
	val, ok := tags[f.Key]
	switch f.Cmp {
	case "eq":
		return ok && val == f.Val
	case "neq":
		return !ok || val != f.Val
	case "in":
		return filterContains(f.Vals, val)
	case "nin":
		return !filterContains(f.Vals, val)
	case "ex":
		return ok
	case "nex":
		return !ok
	case "sw":
		return ok && strings.HasPrefix(val, f.Val)
	case "ew":
		return ok && strings.HasSuffix(val, f.Val)
	case "ct":
		return ok && strings.Contains(val, f.Val)
	case "lt", "lte", "gt", "gte":
		if !ok {
			return false
		}
		c, valid := compareDecimalStrings(val, f.Val)
		if !valid {
			return false
		}
		switch f.Cmp {
		case "lt":
			return c < 0
		case "lte":
			return c <= 0
		case "gt":
			return c > 0
		default:
			return c >= 0
		}
	}
	return false
}

func filterContains(vals []string, v string) bool {
	for _, s := range vals {
		if s == v {
			return true
		}
	}
	return false
}

// decimal is a parsed decimal number: sign, integer digits without leading
// zeros and fraction digits without trailing zeros (both slices of the
// input). Zero is never negative.
type decimal struct {
	neg       bool
	intDigits string
	frac      string
}

// parseDecimal accepts what Centrifugo's decimal parser accepts:
// an optional sign, one or more digits, optionally '.' and 1 to 19 digits,
// at most 200 characters in all.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if len(s) == 0 || len(s) > decimalMaxLen {
		return d, false
	}
	i := 0
	if s[0] == '+' || s[0] == '-' {
		d.neg = s[0] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return d, false
	}
	d.intDigits = s[start:i]
	if i < len(s) {
		if s[i] != '.' {
			return d, false
		}
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i != len(s) || i == fs || i-fs > decimalMaxFrac {
			return d, false
		}
		d.frac = s[fs:i]
	}
	for len(d.intDigits) > 0 && d.intDigits[0] == '0' {
		d.intDigits = d.intDigits[1:]
	}
	for len(d.frac) > 0 && d.frac[len(d.frac)-1] == '0' {
		d.frac = d.frac[:len(d.frac)-1]
	}
	if d.intDigits == "" && d.frac == "" {
		d.neg = false
	}
	return d, true
}

// compareDecimalStrings compares two decimal strings exactly: -1, 0 or +1,
// and false if either is not a valid decimal.
func compareDecimalStrings(a, b string) (int, bool) {
	x, ok := parseDecimal(a)
	if !ok {
		return 0, false
	}
	y, ok := parseDecimal(b)
	if !ok {
		return 0, false
	}
	if x.neg != y.neg {
		if x.neg {
			return -1, true
		}
		return 1, true
	}
	c := compareMagnitude(x, y)
	if x.neg {
		c = -c
	}
	return c, true
}

func compareMagnitude(x, y decimal) int {
	if len(x.intDigits) != len(y.intDigits) {
		if len(x.intDigits) < len(y.intDigits) {
			return -1
		}
		return 1
	}
	if x.intDigits != y.intDigits {
		if x.intDigits < y.intDigits {
			return -1
		}
		return 1
	}
	// Fractions without trailing zeros compare lexicographically.
	switch {
	case x.frac < y.frac:
		return -1
	case x.frac > y.frac:
		return 1
	}
	return 0
}
