package engine

import (
	"encoding/json"
	"strings"
)

const (
	privatePrefix     = "$"
	namespaceBoundary = ":"
)

// namespaceFor resolves the options of channel (channels-and-namespaces.md §1): strip
// the private prefix, take the text before the first boundary as the namespace name.
// ok is false when the namespace is not configured (error 102).
func (n *Node) namespaceFor(channel string) (opts *NamespaceOptions, rest string, ok bool) {
	name := strings.TrimPrefix(channel, privatePrefix)
	i := strings.Index(name, namespaceBoundary)
	co := n.chanOpts.Load()
	if i < 0 {
		return co.without, channel, true
	}
	opts, ok = co.byName[name[:i]]
	return opts, name[i+1:], ok
}

// validChannelName applies the client-side name check: the namespace's channel_regex
// on rest when set, otherwise the whole channel must be ASCII.
func (n *Node) validChannelName(opts *NamespaceOptions, channel, rest string) bool {
	if re := n.chanOpts.Load().regexps[opts]; re != nil {
		return re.MatchString(rest)
	}
	for i := 0; i < len(channel); i++ {
		if channel[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isUserLimited reports whether channel is user-limited for opts and user is allowed
// in it ("dialog:#42,43" lets users 42 and 43 in).
func isUserLimited(opts *NamespaceOptions, channel string) (limited bool, users string) {
	if !opts.AllowUserLimitedChannels {
		return false, ""
	}
	i := strings.LastIndex(channel, "#")
	if i < 0 {
		return false, ""
	}
	return true, channel[i+1:]
}

func userInList(users, user string) bool {
	if user == "" {
		return false
	}
	for users != "" {
		var u string
		u, users, _ = strings.Cut(users, ",")
		if u == user {
			return true
		}
	}
	return false
}

// checkPublicationData applies publication_data_format (default: reject empty data).
func checkPublicationData(opts *NamespaceOptions, data []byte) bool {
	switch opts.PublicationDataFormat {
	case "binary":
		return true
	case "json":
		return len(data) > 0 && json.Valid(data)
	case "json_object":
		return len(data) > 0 && json.Valid(data) && firstNonSpace(data) == '{'
	default:
		return len(data) > 0
	}
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// personalChannel is user's personal channel: <namespace>:#<user>, or #<user> when
// no personal channel namespace is configured.
func (n *Node) personalChannel(user string) string {
	if ns := n.cfg.PersonalChannel.Namespace; ns != "" {
		return ns + namespaceBoundary + "#" + user
	}
	return "#" + user
}
