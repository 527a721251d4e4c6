package engine

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/codec"
)

type tfNode = codec.FilterNode

func tfLeaf(key, cmp, val string, vals ...string) *tfNode {
	return &tfNode{Key: key, Cmp: cmp, Val: val, Vals: vals}
}

func tfAnd(nodes ...*tfNode) *tfNode { return &tfNode{Op: "and", Nodes: nodes} }
func tfOr(nodes ...*tfNode) *tfNode  { return &tfNode{Op: "or", Nodes: nodes} }
func tfNot(node *tfNode) *tfNode     { return &tfNode{Op: "not", Nodes: []*tfNode{node}} }

type tfTags = map[string]string

func TestFilterMatchLeaves(t *testing.T) {
	empty := tfTags{}
	cases := []struct {
		desc string
		f    *tfNode
		tags tfTags
		want bool
	}{
		{"eq match", tfLeaf("env", "eq", "prod"), tfTags{"env": "prod"}, true},
		{"eq differs", tfLeaf("env", "eq", "prod"), tfTags{"env": "staging"}, false},
		{"eq missing key", tfLeaf("env", "eq", "prod"), empty, false},
		{"eq case-sensitive", tfLeaf("env", "eq", "prod"), tfTags{"env": "PROD"}, false},

		{"neq differs", tfLeaf("tier", "neq", "bronze"), tfTags{"tier": "silver"}, true},
		{"neq same", tfLeaf("tier", "neq", "bronze"), tfTags{"tier": "bronze"}, false},
		{"neq missing key", tfLeaf("tier", "neq", "bronze"), empty, true},
		{"neq empty value", tfLeaf("tier", "neq", "bronze"), tfTags{"tier": ""}, true},

		{"in present", tfLeaf("region", "in", "", "us", "eu"), tfTags{"region": "us"}, true},
		{"in absent value", tfLeaf("region", "in", "", "us", "eu"), tfTags{"region": "asia"}, false},
		{"in missing key", tfLeaf("region", "in", "", "us", "eu"), empty, false},
		{"in missing key, vals has empty", tfLeaf("region", "in", "", "us", ""), empty, true},
		{"in empty value, vals has empty", tfLeaf("region", "in", "", ""), tfTags{"region": ""}, true},

		{"nin absent value", tfLeaf("region", "nin", "", "us", "eu"), tfTags{"region": "asia"}, true},
		{"nin present", tfLeaf("region", "nin", "", "us", "eu"), tfTags{"region": "eu"}, false},
		{"nin missing key", tfLeaf("region", "nin", "", "us", "eu"), empty, true},
		{"nin missing key, vals has empty", tfLeaf("region", "nin", "", "us", ""), empty, false},

		{"ex present", tfLeaf("debug", "ex", ""), tfTags{"debug": "1"}, true},
		{"ex present empty value", tfLeaf("debug", "ex", ""), tfTags{"debug": ""}, true},
		{"ex missing", tfLeaf("debug", "ex", ""), empty, false},
		{"ex nil tags", tfLeaf("debug", "ex", ""), nil, false},
		{"ex empty key", tfLeaf("", "ex", ""), tfTags{"": "x"}, true},
		{"nex missing", tfLeaf("debug", "nex", ""), empty, true},
		{"nex nil tags", tfLeaf("debug", "nex", ""), nil, true},
		{"nex present", tfLeaf("debug", "nex", ""), tfTags{"debug": "1"}, false},

		{"sw match", tfLeaf("path", "sw", "/api/"), tfTags{"path": "/api/v1"}, true},
		{"sw whole", tfLeaf("path", "sw", "/api/"), tfTags{"path": "/api/"}, true},
		{"sw no", tfLeaf("path", "sw", "/api/"), tfTags{"path": "/web/api/"}, false},
		{"sw shorter", tfLeaf("path", "sw", "/api/"), tfTags{"path": "/ap"}, false},
		{"sw missing", tfLeaf("path", "sw", "/api/"), empty, false},
		{"ew match", tfLeaf("file", "ew", ".go"), tfTags{"file": "main.go"}, true},
		{"ew no", tfLeaf("file", "ew", ".go"), tfTags{"file": "main.gox"}, false},
		{"ew missing", tfLeaf("file", "ew", ".go"), empty, false},
		{"ct match", tfLeaf("title", "ct", "lo wo"), tfTags{"title": "hello world"}, true},
		{"ct no", tfLeaf("title", "ct", "low"), tfTags{"title": "hello world"}, false},
		{"ct missing", tfLeaf("title", "ct", "x"), empty, false},
		{"ct unicode", tfLeaf("title", "ct", "ö"), tfTags{"title": "wörld"}, true},

		{"gt greater", tfLeaf("amount", "gt", "42"), tfTags{"amount": "100"}, true},
		{"gt less", tfLeaf("amount", "gt", "42"), tfTags{"amount": "10"}, false},
		{"gt equal", tfLeaf("amount", "gt", "42"), tfTags{"amount": "42"}, false},
		{"gt numeric not lexicographic", tfLeaf("amount", "gt", "9"), tfTags{"amount": "10"}, true},
		{"gte greater", tfLeaf("amount", "gte", "42"), tfTags{"amount": "100"}, true},
		{"gte equal", tfLeaf("amount", "gte", "42"), tfTags{"amount": "42"}, true},
		{"gte equal different notation", tfLeaf("amount", "gte", "42"), tfTags{"amount": "042.000"}, true},
		{"gte just above", tfLeaf("amount", "gte", "42"), tfTags{"amount": "42.00000001"}, true},
		{"gte just below", tfLeaf("amount", "gte", "42"), tfTags{"amount": "41.99999999"}, false},
		{"gte less", tfLeaf("amount", "gte", "42"), tfTags{"amount": "10"}, false},
		{"lt less", tfLeaf("amount", "lt", "42"), tfTags{"amount": "10"}, true},
		{"lt greater", tfLeaf("amount", "lt", "42"), tfTags{"amount": "100"}, false},
		{"lt equal", tfLeaf("amount", "lt", "42"), tfTags{"amount": "42"}, false},
		{"lt negative", tfLeaf("amount", "lt", "0"), tfTags{"amount": "-0.5"}, true},
		{"lt both negative", tfLeaf("amount", "lt", "-1.5"), tfTags{"amount": "-2"}, true},
		{"lt both negative no", tfLeaf("amount", "lt", "-2"), tfTags{"amount": "-1.5"}, false},
		{"lte less", tfLeaf("amount", "lte", "42"), tfTags{"amount": "10"}, true},
		{"lte equal", tfLeaf("amount", "lte", "42"), tfTags{"amount": "42"}, true},
		{"lte greater", tfLeaf("amount", "lte", "42"), tfTags{"amount": "100"}, false},
		{"lte minus zero", tfLeaf("amount", "lte", "0"), tfTags{"amount": "-0.000"}, true},
		{"gte minus zero", tfLeaf("amount", "gte", "0"), tfTags{"amount": "-0"}, true},
		{"gt plus sign", tfLeaf("amount", "gt", "+1"), tfTags{"amount": "+1.1"}, true},
		{"numeric missing key", tfLeaf("amount", "lt", "42"), empty, false},
		{"numeric bad value", tfLeaf("amount", "lt", "42"), tfTags{"amount": "ten"}, false},
		{"numeric bad value gte", tfLeaf("amount", "gte", "42"), tfTags{"amount": "1e3"}, false},
		{"numeric bad operand", tfLeaf("amount", "lt", "abc"), tfTags{"amount": "1"}, false},
		{"numeric bad operand gte", tfLeaf("amount", "gte", "abc"), tfTags{"amount": "1"}, false},
		{"numeric NaN", tfLeaf("amount", "gte", "0"), tfTags{"amount": "NaN"}, false},
		{"numeric Inf", tfLeaf("amount", "gt", "0"), tfTags{"amount": "Inf"}, false},
		{"numeric space", tfLeaf("amount", "gt", "0"), tfTags{"amount": " 1"}, false},
		{"numeric too many fraction digits", tfLeaf("amount", "gt", "0"), tfTags{"amount": "1.00000000000000000001"}, false},
		{"numeric 19 fraction digits", tfLeaf("amount", "gt", "1"), tfTags{"amount": "1.0000000000000000001"}, true},
		{"numeric beyond float precision", tfLeaf("amount", "gt", "9007199254740992"), tfTags{"amount": "9007199254740993"}, true},
		{"numeric beyond 128 bits", tfLeaf("amount", "lt", "1"+strings.Repeat("0", 60)), tfTags{"amount": strings.Repeat("9", 60)}, true},

		{"unknown cmp", tfLeaf("k", "like", "v"), tfTags{"k": "v"}, false},
		{"unknown op", &tfNode{Op: "xor", Nodes: []*tfNode{tfLeaf("k", "ex", "")}}, tfTags{"k": "v"}, false},
		{"nil filter", nil, tfTags{}, true},
	}
	for _, c := range cases {
		if got := matchFilter(c.f, c.tags); got != c.want {
			t.Errorf("%s: matchFilter = %v, want %v", c.desc, got, c.want)
		}
		if c.f != nil && c.f.Cmp != "like" && c.f.Op != "xor" {
			if err := validateFilter(c.f); err != nil {
				t.Errorf("%s: validateFilter = %v", c.desc, err)
			}
		}
	}
}

func TestFilterMatchCombinations(t *testing.T) {
	complexF := tfOr(
		tfAnd(tfLeaf("env", "eq", "prod"), tfLeaf("region", "in", "", "us", "eu")),
		tfAnd(tfLeaf("tier", "neq", "bronze"), tfNot(tfLeaf("debug", "ex", ""))),
	)
	cases := []struct {
		desc string
		f    *tfNode
		tags tfTags
		want bool
	}{
		{"and all true", tfAnd(tfLeaf("env", "eq", "prod"), tfLeaf("version", "ex", "")), tfTags{"env": "prod", "version": "1"}, true},
		{"and one false", tfAnd(tfLeaf("env", "eq", "prod"), tfLeaf("version", "ex", "")), tfTags{"env": "prod"}, false},
		{"and single", tfAnd(tfLeaf("a", "ex", "")), tfTags{"a": ""}, true},
		{"or one true", tfOr(tfLeaf("env", "eq", "prod"), tfLeaf("env", "eq", "staging")), tfTags{"env": "staging"}, true},
		{"or none", tfOr(tfLeaf("env", "eq", "prod"), tfLeaf("env", "eq", "staging")), tfTags{"env": "qa"}, false},
		{"not true", tfNot(tfLeaf("debug", "ex", "")), tfTags{}, true},
		{"not false", tfNot(tfLeaf("debug", "ex", "")), tfTags{"debug": "1"}, false},
		{"not not", tfNot(tfNot(tfLeaf("a", "eq", "1"))), tfTags{"a": "1"}, true},
		{"not of and", tfNot(tfAnd(tfLeaf("a", "eq", "1"), tfLeaf("b", "eq", "2"))), tfTags{"a": "1", "b": "3"}, true},
		{"not of or", tfNot(tfOr(tfLeaf("a", "eq", "1"), tfLeaf("b", "eq", "2"))), tfTags{"a": "1"}, false},
		{"and of or", tfAnd(tfOr(tfLeaf("a", "eq", "1"), tfLeaf("a", "eq", "2")), tfOr(tfLeaf("n", "gt", "5"), tfLeaf("n", "lt", "-5"))), tfTags{"a": "2", "n": "-6"}, true},
		{"and of or no", tfAnd(tfOr(tfLeaf("a", "eq", "1"), tfLeaf("a", "eq", "2")), tfOr(tfLeaf("n", "gt", "5"), tfLeaf("n", "lt", "-5"))), tfTags{"a": "2", "n": "0"}, false},
		{"range", tfAnd(tfLeaf("p", "gte", "10"), tfLeaf("p", "lt", "20")), tfTags{"p": "19.99"}, true},
		{"range out", tfAnd(tfLeaf("p", "gte", "10"), tfLeaf("p", "lt", "20")), tfTags{"p": "20"}, false},
		{"complex prod us", complexF, tfTags{"env": "prod", "region": "us"}, true},
		{"complex silver", complexF, tfTags{"tier": "silver"}, true},
		{"complex staging us", complexF, tfTags{"env": "staging", "region": "us"}, true},
		{"complex bronze", complexF, tfTags{"tier": "bronze"}, false},
		{"complex debug", complexF, tfTags{"env": "prod", "region": "asia", "debug": "1"}, false},
		// Unvalidated shapes behave like Centrifugo's Match.
		{"empty and", &tfNode{Op: "and"}, tfTags{}, true},
		{"empty or", &tfNode{Op: "or"}, tfTags{}, false},
		{"not with two children", &tfNode{Op: "not", Nodes: []*tfNode{tfLeaf("a", "ex", ""), tfLeaf("b", "ex", "")}}, tfTags{}, false},
		{"invalid child makes and false", tfAnd(tfLeaf("a", "ex", ""), tfLeaf("a", "bogus", "")), tfTags{"a": ""}, false},
	}
	for _, c := range cases {
		if got := matchFilter(c.f, c.tags); got != c.want {
			t.Errorf("%s: matchFilter = %v, want %v", c.desc, got, c.want)
		}
	}
}

func tfDeep(depth int) *tfNode {
	f := tfLeaf("k", "ex", "")
	for i := 1; i < depth; i++ {
		f = tfNot(f)
	}
	return f
}

func TestFilterValidate(t *testing.T) {
	wide := func(n int) *tfNode {
		nodes := make([]*tfNode, n)
		for i := range nodes {
			nodes[i] = tfLeaf(fmt.Sprint("k", i), "eq", "v")
		}
		return tfAnd(nodes...)
	}
	manyVals := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprint(i)
		}
		return v
	}
	valid := []struct {
		desc string
		f    *tfNode
	}{
		{"eq", tfLeaf("k", "eq", "v")},
		{"every value cmp", tfAnd(tfLeaf("k", "eq", "v"), tfLeaf("k", "neq", "v"), tfLeaf("k", "sw", "v"), tfLeaf("k", "ew", "v"), tfLeaf("k", "ct", "v"),
			tfLeaf("k", "lt", "1"), tfLeaf("k", "lte", "1"), tfLeaf("k", "gt", "1"), tfLeaf("k", "gte", "1"))},
		{"in/nin", tfOr(tfLeaf("k", "in", "", "a"), tfLeaf("k", "nin", "", "a", "b"))},
		{"ex/nex", tfOr(tfLeaf("k", "ex", ""), tfLeaf("k", "nex", ""))},
		{"ex without key", tfLeaf("", "ex", "")},
		{"nex without key", tfLeaf("", "nex", "")},
		{"numeric with non-numeric val", tfLeaf("k", "gt", "abc")}, // Centrifugo doesn't check
		{"max depth", tfDeep(filterMaxDepth)},
		{"max nodes", wide(filterMaxNodes - 1)},
		{"max values", tfLeaf("k", "in", "", manyVals(filterMaxValues)...)},
		{"leaf children ignored", &tfNode{Key: "k", Cmp: "eq", Val: "v", Nodes: []*tfNode{{Op: "bogus"}}}},
		{"inner fields ignored", &tfNode{Op: "and", Key: "k", Cmp: "bogus", Val: "v", Nodes: []*tfNode{tfLeaf("k", "ex", "")}}},
	}
	for _, c := range valid {
		if err := validateFilter(c.f); err != nil {
			t.Errorf("%s: validateFilter = %v, want nil", c.desc, err)
		}
	}
	invalid := []struct {
		desc string
		f    *tfNode
		want error
	}{
		{"nil root", nil, errFilterNilNode},
		{"nil child", tfAnd(tfLeaf("k", "ex", ""), nil), errFilterNilNode},
		{"unknown op", &tfNode{Op: "xor", Nodes: []*tfNode{tfLeaf("k", "ex", "")}}, errFilterBadOp},
		{"uppercase op", &tfNode{Op: "AND", Nodes: []*tfNode{tfLeaf("k", "ex", "")}}, errFilterBadOp},
		{"and without children", &tfNode{Op: "and"}, errFilterNoChildren},
		{"or without children", &tfNode{Op: "or"}, errFilterNoChildren},
		{"not without children", &tfNode{Op: "not"}, errFilterNotChildren},
		{"not with two", &tfNode{Op: "not", Nodes: []*tfNode{tfLeaf("a", "ex", ""), tfLeaf("b", "ex", "")}}, errFilterNotChildren},
		{"leaf without cmp", &tfNode{Key: "k", Val: "v"}, errFilterNoCmp},
		{"unknown cmp", tfLeaf("k", "like", "v"), errFilterBadCmp},
		{"uppercase cmp", tfLeaf("k", "EQ", "v"), errFilterBadCmp},
		{"eq without val", tfLeaf("k", "eq", ""), errFilterNeedsVal},
		{"gt without val", tfLeaf("k", "gt", ""), errFilterNeedsVal},
		{"ct without val", tfLeaf("k", "ct", ""), errFilterNeedsVal},
		{"eq with vals", tfLeaf("k", "eq", "v", "w"), errFilterNoVals},
		{"in without vals", tfLeaf("k", "in", ""), errFilterNeedsVals},
		{"nin without vals", tfLeaf("k", "nin", ""), errFilterNeedsVals},
		{"in with val", tfLeaf("k", "in", "v", "w"), errFilterNoVal},
		{"ex with val", tfLeaf("k", "ex", "v"), errFilterExistsValues},
		{"nex with vals", tfLeaf("k", "nex", "", "a"), errFilterExistsValues},
		{"eq without key", tfLeaf("", "eq", "v"), errFilterNoKey},
		{"in without key", tfLeaf("", "in", "", "v"), errFilterNoKey},
		{"invalid deep inside", tfAnd(tfOr(tfLeaf("a", "ex", ""), tfNot(tfLeaf("b", "eq", "")))), errFilterNeedsVal},
		{"too deep", tfDeep(filterMaxDepth + 1), errFilterTooDeep},
		{"too many nodes", wide(filterMaxNodes), errFilterTooManyNodes},
		{"too many values", tfAnd(tfLeaf("k", "in", "", manyVals(filterMaxValues)...), tfLeaf("j", "nin", "", "x")), errFilterTooManyVals},
	}
	for _, c := range invalid {
		err := validateFilter(c.f)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: validateFilter = %v, want %v", c.desc, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "invalid tags filter: ") {
			t.Errorf("%s: error text %q", c.desc, err.Error())
		}
	}
}

// tfDecimalGrammar is the input accepted by Centrifugo's decimal parser.
var tfDecimalGrammar = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]{1,19})?$`)

func TestFilterDecimalParse(t *testing.T) {
	good := []string{"0", "-0", "+0", "007", "1.5", "-1.5", "+1.5", "0.0000000000000000001", "123456789012345678901234567890.25",
		strings.Repeat("9", 200), "-" + strings.Repeat("9", 199)}
	bad := []string{"", "+", "-", ".5", "-.5", "5.", "1.2.3", "1e3", "1E3", "0x10", " 1", "1 ", "NaN", "Inf", "-Inf", "1_000",
		"1,5", "--1", "+-1", "1.00000000000000000000", strings.Repeat("9", 201), "١٢"}
	for _, s := range good {
		if _, ok := parseDecimal(s); !ok {
			t.Errorf("parseDecimal(%q) rejected", s)
		}
	}
	for _, s := range bad {
		if _, ok := parseDecimal(s); ok {
			t.Errorf("parseDecimal(%q) accepted", s)
		}
	}
	// Exact comparison against math/big on random decimals.
	r := rand.New(rand.NewPCG(1, 1))
	randDec := func() string {
		var sb strings.Builder
		switch r.IntN(3) {
		case 0:
			sb.WriteByte('-')
		case 1:
			if r.IntN(4) == 0 {
				sb.WriteByte('+')
			}
		}
		for i := 0; i < 1+r.IntN(25); i++ {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(2) == 0 {
			sb.WriteByte('.')
			for i := 0; i < 1+r.IntN(19); i++ {
				sb.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		return sb.String()
	}
	for i := 0; i < 5000; i++ {
		a, b := randDec(), randDec()
		if i%5 == 0 {
			b = a + strings.Repeat("0", r.IntN(3)) // equal values, other notation
			if !strings.Contains(a, ".") {
				b = a
			}
		}
		ra, _ := new(big.Rat).SetString(a)
		rb, _ := new(big.Rat).SetString(b)
		got, ok := compareDecimalStrings(a, b)
		if !ok || got != ra.Cmp(rb) {
			t.Fatalf("compare(%q, %q) = %d, %v; want %d", a, b, got, ok, ra.Cmp(rb))
		}
	}
}

func FuzzFilter(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5}, "k", "v", "1.5", "k=v;n=2")
	f.Add([]byte{1, 0, 0, 0, 2, 0, 3}, "amount", "42", "-0", "amount=42.0")
	f.Add([]byte{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0}, "", "", "", "")
	f.Fuzz(func(t *testing.T, shape []byte, key, val, val2, tagText string) {
		tags := map[string]string{}
		for _, kv := range strings.Split(tagText, ";") {
			k, v, _ := strings.Cut(kv, "=")
			tags[k] = v
		}
		pos := 0
		next := func() byte {
			if pos >= len(shape) {
				return 0
			}
			b := shape[pos]
			pos++
			return b
		}
		ops := []string{"", "and", "or", "not", "xor"}
		cmps := []string{"eq", "neq", "in", "nin", "ex", "nex", "sw", "ew", "ct", "lt", "lte", "gt", "gte", "", "bad"}
		strs := []string{key, val, val2, ""}
		var build func(depth int) *tfNode
		build = func(depth int) *tfNode {
			b := next()
			if b == 255 {
				return nil
			}
			n := &tfNode{Op: ops[int(b)%len(ops)]}
			if n.Op == "" || depth > 40 {
				n.Op = ""
				c := next()
				n.Cmp = cmps[int(c)%len(cmps)]
				n.Key = strs[int(c>>4)%len(strs)]
				n.Val = strs[int(next())%len(strs)]
				for i := 0; i < int(next())%3; i++ {
					n.Vals = append(n.Vals, strs[int(next())%len(strs)])
				}
				return n
			}
			for i := 0; i < int(next())%4; i++ {
				n.Nodes = append(n.Nodes, build(depth+1))
			}
			return n
		}
		root := build(0)
		err := validateFilter(root)
		got := matchFilter(root, tags)
		if err != nil || root == nil {
			return
		}
		// Properties of validated filters.
		if matchFilter(tfNot(root), tags) == got {
			t.Fatalf("tfNot(f) == f")
		}
		if matchFilter(tfAnd(root, root), tags) != got || matchFilter(tfOr(root, root), tags) != got {
			t.Fatalf("idempotence broken")
		}
		if root.Op == "" {
			switch root.Cmp {
			case "lt":
				ge := &tfNode{Key: root.Key, Cmp: "gte", Val: root.Val}
				_, okv := parseDecimal(tags[root.Key])
				_, oko := parseDecimal(root.Val)
				_, present := tags[root.Key]
				if present && okv && oko && got == matchFilter(ge, tags) {
					t.Fatalf("lt and gte agree on %q vs %q", tags[root.Key], root.Val)
				}
			case "eq":
				ne := &tfNode{Key: root.Key, Cmp: "neq", Val: root.Val}
				if got == matchFilter(ne, tags) {
					t.Fatalf("eq and neq agree")
				}
			case "in":
				nin := &tfNode{Key: root.Key, Cmp: "nin", Vals: root.Vals}
				if got == matchFilter(nin, tags) {
					t.Fatalf("in and nin agree")
				}
			case "ex":
				nex := &tfNode{Key: root.Key, Cmp: "nex"}
				if got == matchFilter(nex, tags) {
					t.Fatalf("ex and nex agree")
				}
			}
		}
		for _, s := range []string{val, val2} {
			_, ok := parseDecimal(s)
			if want := len(s) <= decimalMaxLen && tfDecimalGrammar.MatchString(s); ok != want {
				t.Fatalf("parseDecimal(%q) = %v, grammar says %v", s, ok, want)
			}
		}
	})
}

func BenchmarkFilterMatch(b *testing.B) {
	f := tfOr(
		tfAnd(tfLeaf("env", "eq", "prod"), tfLeaf("region", "in", "", "us", "eu")),
		tfAnd(tfLeaf("tier", "neq", "bronze"), tfNot(tfLeaf("debug", "ex", ""))),
		tfAnd(tfLeaf("amount", "gte", "10.5"), tfLeaf("amount", "lt", "100")),
	)
	tags := tfTags{"env": "staging", "region": "us", "tier": "bronze", "amount": "12.25"}
	b.ReportAllocs()
	for b.Loop() {
		if !matchFilter(f, tags) {
			b.Fatal("no match")
		}
	}
}
