package engine

import (
	"errors"
	"regexp"
	"strings"
)

// glob matches channel names with the pattern syntax of the channels API: `*` any run
// of characters, `?` one character, `[abc]`/`[!abc]` classes and `{a,b}`
// alternatives. It is translated once into an anchored regular expression.
type glob struct{ re *regexp.Regexp }

var errBadGlob = errors.New("engine: invalid glob pattern")

func compileGlob(pattern string) (*glob, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	depth := 0
	for i := 0; i < len(pattern); i++ {
		ch := pattern[i]
		switch ch {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				return nil, errBadGlob
			}
			class := pattern[i+1 : i+1+j]
			i += j + 1
			b.WriteByte('[')
			if strings.HasPrefix(class, "!") {
				b.WriteByte('^')
				class = class[1:]
			}
			if class == "" {
				return nil, errBadGlob
			}
			for _, r := range class {
				if r == '\\' || r == ']' || r == '[' || r == '^' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteByte(']')
		case '{':
			depth++
			b.WriteString(`(?:`)
		case '}':
			if depth == 0 {
				return nil, errBadGlob
			}
			depth--
			b.WriteByte(')')
		case ',':
			if depth > 0 {
				b.WriteByte('|')
			} else {
				b.WriteByte(',')
			}
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			} else {
				return nil, errBadGlob
			}
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	if depth != 0 {
		return nil, errBadGlob
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, errBadGlob
	}
	return &glob{re: re}, nil
}

func (g *glob) match(s string) bool { return g.re.MatchString(s) }
