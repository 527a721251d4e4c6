package codec

// JSON writers for every message, fields in field-number order (the order Centrifugo's
// own encoder uses, which keeps golden strings comparable). Omission follows
// shared/spec/client-protocol.md §2–4: everything is omitted when zero except
// ClientInfo user/client, PresenceResult.presence, PresenceStatsResult numbers and
// HistoryResult publications/epoch/offset. A set (non-nil) sub-message is always written,
// as {} when empty: that is how a client tells a successful empty result apart.

func (w *jsonWriter) clientInfo(ci *ClientInfo) {
	start := w.open()
	w.strAlways(`,"user":`, ci.User)
	w.strAlways(`,"client":`, ci.Client)
	w.raw(`,"conn_info":`, ci.ConnInfo)
	w.raw(`,"chan_info":`, ci.ChanInfo)
	w.close(start)
}

func (w *jsonWriter) publication(p *Publication) {
	start := w.open()
	if p != nil {
		w.raw(`,"data":`, p.Data)
		if p.Info != nil {
			w.key(`,"info":`)
			w.clientInfo(p.Info)
		}
		w.u64(`,"offset":`, p.Offset)
		w.strMap(`,"tags":`, p.Tags)
		w.boolean(`,"delta":`, p.Delta)
		w.i64(`,"time":`, p.Time)
		w.str(`,"channel":`, p.Channel)
		w.str(`,"key":`, p.Key)
		w.boolean(`,"removed":`, p.Removed)
		w.i64(`,"score":`, p.Score)
		w.str(`,"epoch":`, p.Epoch)
		w.raw(`,"prev_data":`, p.PrevData)
		w.u64(`,"version":`, p.Version)
	}
	w.close(start)
}

// publications writes a repeated Publication; always=false omits an empty list.
func (w *jsonWriter) publications(k string, ps []*Publication, always bool) {
	if len(ps) == 0 && !always {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, p := range ps {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.publication(p)
	}
	w.b = append(w.b, ']')
}

func (w *jsonWriter) push(p *Push) {
	start := w.open()
	w.i64(`,"id":`, p.ID)
	w.str(`,"channel":`, p.Channel)
	if p.Pub != nil {
		w.key(`,"pub":`)
		w.publication(p.Pub)
	}
	if p.Join != nil {
		w.key(`,"join":`)
		w.infoWrapper(&p.Join.Info)
	}
	if p.Leave != nil {
		w.key(`,"leave":`)
		w.infoWrapper(&p.Leave.Info)
	}
	if p.Unsubscribe != nil {
		w.key(`,"unsubscribe":`)
		w.unsubscribe(p.Unsubscribe.Code, p.Unsubscribe.Reason)
	}
	if p.Message != nil {
		w.key(`,"message":`)
		s := w.open()
		w.raw(`,"data":`, p.Message.Data)
		w.close(s)
	}
	if p.Subscribe != nil {
		w.key(`,"subscribe":`)
		w.subscribePush(p.Subscribe)
	}
	if p.Connect != nil {
		w.key(`,"connect":`)
		c := p.Connect
		w.connectFields(c.Client, c.Version, c.Data, c.Subs, c.Expires, c.TTL, c.Ping, c.Pong, c.Session, c.Node, c.Time, true)
	}
	if p.Disconnect != nil {
		w.key(`,"disconnect":`)
		s := w.open()
		w.u64(`,"code":`, uint64(p.Disconnect.Code))
		w.str(`,"reason":`, p.Disconnect.Reason)
		w.boolean(`,"reconnect":`, p.Disconnect.Reconnect)
		w.close(s)
	}
	if p.Refresh != nil {
		w.key(`,"refresh":`)
		s := w.open()
		w.boolean(`,"expires":`, p.Refresh.Expires)
		w.u64(`,"ttl":`, uint64(p.Refresh.TTL))
		w.close(s)
	}
	w.close(start)
}

// infoWrapper writes Join/Leave: {"info":{…}}.
func (w *jsonWriter) infoWrapper(ci *ClientInfo) {
	start := w.open()
	w.key(`,"info":`)
	w.clientInfo(ci)
	w.close(start)
}

func (w *jsonWriter) unsubscribe(code uint32, reason string) {
	start := w.open()
	w.u64(`,"code":`, uint64(code))
	w.str(`,"reason":`, reason)
	w.close(start)
}

func (w *jsonWriter) subscribePush(s *Subscribe) {
	start := w.open()
	w.boolean(`,"recoverable":`, s.Recoverable)
	w.str(`,"epoch":`, s.Epoch)
	w.u64(`,"offset":`, s.Offset)
	w.boolean(`,"positioned":`, s.Positioned)
	w.raw(`,"data":`, s.Data)
	w.close(start)
}

// connectFields writes Connect (push) and ConnectResult, which share their fields
// but not their numbering; JSON only cares about names, so one writer serves both.
func (w *jsonWriter) connectFields(client, version string, data []byte, subs map[string]*SubscribeResult,
	expires bool, ttl, ping uint32, pong bool, session, node string, time int64, isPush bool) {
	start := w.open()
	w.str(`,"client":`, client)
	w.str(`,"version":`, version)
	if isPush {
		// Connect push order: client, version, data, subs, expires, ttl, …
		w.raw(`,"data":`, data)
		w.subResults(subs)
		w.boolean(`,"expires":`, expires)
		w.u64(`,"ttl":`, uint64(ttl))
	} else {
		// ConnectResult order: client, version, expires, ttl, data, subs, …
		w.boolean(`,"expires":`, expires)
		w.u64(`,"ttl":`, uint64(ttl))
		w.raw(`,"data":`, data)
		w.subResults(subs)
	}
	w.u64(`,"ping":`, uint64(ping))
	w.boolean(`,"pong":`, pong)
	w.str(`,"session":`, session)
	w.str(`,"node":`, node)
	w.i64(`,"time":`, time)
	w.close(start)
}

func (w *jsonWriter) subResults(subs map[string]*SubscribeResult) {
	if len(subs) == 0 {
		return
	}
	var buf [sortBuf]string
	w.key(`,"subs":`)
	start := w.open()
	for _, k := range sortedKeys(subs, &buf) {
		w.b = append(w.b, ',')
		w.b = appendJSONString(w.b, k)
		w.b = append(w.b, ':')
		w.subscribeResult(subs[k])
	}
	w.close(start)
}

func (w *jsonWriter) subscribeResult(r *SubscribeResult) {
	start := w.open()
	if r != nil {
		w.boolean(`,"expires":`, r.Expires)
		w.u64(`,"ttl":`, uint64(r.TTL))
		w.boolean(`,"recoverable":`, r.Recoverable)
		w.str(`,"epoch":`, r.Epoch)
		w.publications(`,"publications":`, r.Publications, false)
		w.boolean(`,"recovered":`, r.Recovered)
		w.u64(`,"offset":`, r.Offset)
		w.boolean(`,"positioned":`, r.Positioned)
		w.raw(`,"data":`, r.Data)
		w.boolean(`,"was_recovering":`, r.WasRecovering)
		w.boolean(`,"delta":`, r.Delta)
		w.i64(`,"id":`, r.ID)
		w.i64(`,"type":`, int64(r.Type))
		w.i64(`,"phase":`, int64(r.Phase))
		w.str(`,"cursor":`, r.Cursor)
		w.publications(`,"state":`, r.State, false)
		w.u64(`,"publish_debounce":`, uint64(r.PublishDebounce))
	}
	w.close(start)
}

func (w *jsonWriter) errorObj(code uint32, message string, temporary bool) {
	start := w.open()
	w.u64(`,"code":`, uint64(code))
	w.str(`,"message":`, message)
	w.boolean(`,"temporary":`, temporary)
	w.close(start)
}

func (w *jsonWriter) reply(r *Reply) {
	start := w.open()
	w.u64(`,"id":`, uint64(r.ID))
	if r.Error != nil {
		w.key(`,"error":`)
		w.errorObj(r.Error.Code, r.Error.Message, r.Error.Temporary)
	}
	if r.Push != nil {
		w.key(`,"push":`)
		w.push(r.Push)
	}
	if c := r.Connect; c != nil {
		w.key(`,"connect":`)
		w.connectFields(c.Client, c.Version, c.Data, c.Subs, c.Expires, c.TTL, c.Ping, c.Pong, c.Session, c.Node, c.Time, false)
	}
	if r.Subscribe != nil {
		w.key(`,"subscribe":`)
		w.subscribeResult(r.Subscribe)
	}
	if r.Unsubscribe != nil {
		w.key(`,"unsubscribe":{}`)
	}
	if r.Publish != nil {
		w.key(`,"publish":{}`)
	}
	if r.Presence != nil {
		w.key(`,"presence":`)
		s := w.open()
		w.key(`,"presence":`)
		w.presenceMap(r.Presence.Presence)
		w.close(s)
	}
	if r.PresenceStats != nil {
		w.key(`,"presence_stats":`)
		s := w.open()
		w.u64Always(`,"num_clients":`, uint64(r.PresenceStats.NumClients))
		w.u64Always(`,"num_users":`, uint64(r.PresenceStats.NumUsers))
		w.close(s)
	}
	if h := r.History; h != nil {
		w.key(`,"history":`)
		s := w.open()
		w.publications(`,"publications":`, h.Publications, true)
		w.strAlways(`,"epoch":`, h.Epoch)
		w.u64Always(`,"offset":`, h.Offset)
		w.close(s)
	}
	if r.RPC != nil {
		w.key(`,"rpc":`)
		s := w.open()
		w.raw(`,"data":`, r.RPC.Data)
		w.close(s)
	}
	if rr := r.Refresh; rr != nil {
		w.key(`,"refresh":`)
		s := w.open()
		w.str(`,"client":`, rr.Client)
		w.str(`,"version":`, rr.Version)
		w.boolean(`,"expires":`, rr.Expires)
		w.u64(`,"ttl":`, uint64(rr.TTL))
		w.close(s)
	}
	if sr := r.SubRefresh; sr != nil {
		w.key(`,"sub_refresh":`)
		s := w.open()
		w.boolean(`,"expires":`, sr.Expires)
		w.u64(`,"ttl":`, uint64(sr.TTL))
		w.publications(`,"items":`, sr.Items, false)
		w.close(s)
	}
	w.close(start)
}

// presenceMap writes the always-present presence map ({} when empty).
func (w *jsonWriter) presenceMap(m map[string]*ClientInfo) {
	var buf [sortBuf]string
	start := w.open()
	for _, k := range sortedKeys(m, &buf) {
		w.b = append(w.b, ',')
		w.b = appendJSONString(w.b, k)
		w.b = append(w.b, ':')
		ci := m[k]
		if ci == nil {
			ci = &ClientInfo{}
		}
		w.clientInfo(ci)
	}
	w.close(start)
}

// ---- client → server ----

func (w *jsonWriter) command(c *Command) {
	start := w.open()
	w.u64(`,"id":`, uint64(c.ID))
	if r := c.Connect; r != nil {
		w.key(`,"connect":`)
		s := w.open()
		w.str(`,"token":`, r.Token)
		w.raw(`,"data":`, r.Data)
		if len(r.Subs) > 0 {
			var buf [sortBuf]string
			w.key(`,"subs":`)
			m := w.open()
			for _, k := range sortedKeys(r.Subs, &buf) {
				w.b = append(w.b, ',')
				w.b = appendJSONString(w.b, k)
				w.b = append(w.b, ':')
				w.subscribeRequest(r.Subs[k])
			}
			w.close(m)
		}
		w.str(`,"name":`, r.Name)
		w.str(`,"version":`, r.Version)
		w.strMap(`,"headers":`, r.Headers)
		w.i64(`,"flag":`, r.Flag)
		w.close(s)
	}
	if c.Subscribe != nil {
		w.key(`,"subscribe":`)
		w.subscribeRequest(c.Subscribe)
	}
	if c.Unsubscribe != nil {
		w.key(`,"unsubscribe":`)
		w.channelOnly(c.Unsubscribe.Channel)
	}
	if r := c.Publish; r != nil {
		w.key(`,"publish":`)
		s := w.open()
		w.str(`,"channel":`, r.Channel)
		w.raw(`,"data":`, r.Data)
		w.i64(`,"type":`, int64(r.Type))
		w.str(`,"key":`, r.Key)
		w.boolean(`,"removed":`, r.Removed)
		w.close(s)
	}
	if c.Presence != nil {
		w.key(`,"presence":`)
		w.channelOnly(c.Presence.Channel)
	}
	if c.PresenceStats != nil {
		w.key(`,"presence_stats":`)
		w.channelOnly(c.PresenceStats.Channel)
	}
	if r := c.History; r != nil {
		w.key(`,"history":`)
		s := w.open()
		w.str(`,"channel":`, r.Channel)
		w.i64(`,"limit":`, int64(r.Limit))
		if r.Since != nil {
			w.key(`,"since":`)
			p := w.open()
			w.u64(`,"offset":`, r.Since.Offset)
			w.str(`,"epoch":`, r.Since.Epoch)
			w.close(p)
		}
		w.boolean(`,"reverse":`, r.Reverse)
		w.close(s)
	}
	if c.Ping != nil {
		w.key(`,"ping":{}`)
	}
	if c.Send != nil {
		w.key(`,"send":`)
		s := w.open()
		w.raw(`,"data":`, c.Send.Data)
		w.close(s)
	}
	if c.RPC != nil {
		w.key(`,"rpc":`)
		s := w.open()
		w.raw(`,"data":`, c.RPC.Data)
		w.str(`,"method":`, c.RPC.Method)
		w.close(s)
	}
	if c.Refresh != nil {
		w.key(`,"refresh":`)
		s := w.open()
		w.str(`,"token":`, c.Refresh.Token)
		w.close(s)
	}
	if r := c.SubRefresh; r != nil {
		w.key(`,"sub_refresh":`)
		s := w.open()
		w.str(`,"channel":`, r.Channel)
		w.str(`,"token":`, r.Token)
		w.i64(`,"type":`, int64(r.Type))
		if len(r.Track) > 0 {
			w.key(`,"track":[`)
			for i, tb := range r.Track {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.trackBatch(tb)
			}
			w.b = append(w.b, ']')
		}
		w.strList(`,"untrack":`, r.Untrack)
		w.close(s)
	}
	w.close(start)
}

func (w *jsonWriter) channelOnly(ch string) {
	start := w.open()
	w.str(`,"channel":`, ch)
	w.close(start)
}

func (w *jsonWriter) trackBatch(tb *TrackBatch) {
	start := w.open()
	if tb != nil {
		w.str(`,"signature":`, tb.Signature)
		if len(tb.Items) > 0 {
			w.key(`,"items":[`)
			for i, it := range tb.Items {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				s := w.open()
				if it != nil {
					w.str(`,"key":`, it.Key)
					w.u64(`,"version":`, it.Version)
				}
				w.close(s)
			}
			w.b = append(w.b, ']')
		}
	}
	w.close(start)
}

func (w *jsonWriter) subscribeRequest(r *SubscribeRequest) {
	start := w.open()
	if r != nil {
		w.str(`,"channel":`, r.Channel)
		w.str(`,"token":`, r.Token)
		w.boolean(`,"recover":`, r.Recover)
		w.str(`,"epoch":`, r.Epoch)
		w.u64(`,"offset":`, r.Offset)
		w.raw(`,"data":`, r.Data)
		w.boolean(`,"positioned":`, r.Positioned)
		w.boolean(`,"recoverable":`, r.Recoverable)
		w.boolean(`,"join_leave":`, r.JoinLeave)
		w.str(`,"delta":`, r.Delta)
		if r.Tf != nil {
			w.key(`,"tf":`)
			w.filterNode(r.Tf, 0)
		}
		w.i64(`,"flag":`, r.Flag)
		w.i64(`,"type":`, int64(r.Type))
		w.i64(`,"phase":`, int64(r.Phase))
		w.str(`,"cursor":`, r.Cursor)
		w.i64(`,"limit":`, int64(r.Limit))
		w.boolean(`,"asc":`, r.Asc)
	}
	w.close(start)
}

// filterNode writes a tags filter tree. Trees deeper than maxDepth are cut off (written
// as {}) rather than recursing without bound: our decoders never produce them.
func (w *jsonWriter) filterNode(n *FilterNode, depth int) {
	start := w.open()
	if n != nil && depth < maxDepth {
		w.str(`,"op":`, n.Op)
		w.str(`,"key":`, n.Key)
		w.str(`,"cmp":`, n.Cmp)
		w.str(`,"val":`, n.Val)
		w.strList(`,"vals":`, n.Vals)
		if len(n.Nodes) > 0 {
			w.key(`,"nodes":[`)
			for i, c := range n.Nodes {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.filterNode(c, depth+1)
			}
			w.b = append(w.b, ']')
		}
	}
	w.close(start)
}
