package codec

// JSON decoders for every message. Unknown members are validated and skipped; a null
// sub-message counts as not set; a null scalar leaves the zero value; raw payload
// fields keep the verbatim text of their value (aliasing the input). Empty maps and
// lists decode to nil, so decode∘encode is the identity on what the encoders write.

// jsonOpt decodes an optional sub-message into *dst, allocating it on first use.
func jsonOpt[T any](r *jsonReader, dst **T, f func(*jsonReader, *T) error) error {
	if r.null() {
		*dst = nil
		return nil
	}
	if *dst == nil {
		*dst = new(T)
	}
	return f(r, *dst)
}

// object validates and skips an object: the messages without fields.
func (r *jsonReader) object() error {
	if r.peek() != '{' {
		return errJSONType
	}
	return r.skip()
}

func jsonEmpty[T any](r *jsonReader, _ *T) error { return r.object() }

// list decodes an array of messages into *dst (null elements become empty messages).
func jsonList[T any](r *jsonReader, dst *[]*T, f func(*jsonReader, *T) error) error {
	*dst = nil
	if r.null() {
		return nil
	}
	more, err := r.beginArray()
	for more && err == nil {
		v := new(T)
		if !r.null() {
			if err = f(r, v); err != nil {
				return err
			}
		}
		*dst = append(*dst, v)
		more, err = r.nextElement()
	}
	return err
}

// msgMap decodes an object of messages keyed by string (null values become empty
// messages). Keys are kept exactly as sent.
func jsonMsgMap[T any](r *jsonReader, dst *map[string]*T, f func(*jsonReader, *T) error) error {
	*dst = nil
	if r.null() {
		return nil
	}
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.rawKey(); err != nil {
			return err
		}
		key := string(k)
		v := new(T)
		if !r.null() {
			if err = f(r, v); err != nil {
				return err
			}
		}
		if *dst == nil {
			*dst = make(map[string]*T)
		}
		(*dst)[key] = v
		more, err = r.nextMember()
	}
	return err
}

func (r *jsonReader) strMap(dst *map[string]string) error {
	*dst = nil
	if r.null() {
		return nil
	}
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.rawKey(); err != nil {
			return err
		}
		key := string(k)
		var v string
		if v, err = r.str(); err != nil {
			return err
		}
		if *dst == nil {
			*dst = make(map[string]string)
		}
		(*dst)[key] = v
		more, err = r.nextMember()
	}
	return err
}

func (r *jsonReader) strList(dst *[]string) error {
	*dst = nil
	if r.null() {
		return nil
	}
	more, err := r.beginArray()
	for more && err == nil {
		var s string
		if s, err = r.str(); err != nil {
			return err
		}
		*dst = append(*dst, s)
		more, err = r.nextElement()
	}
	return err
}

// ---- client → server ----

func (r *jsonReader) command(c *Command) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "id":
			c.ID, err = r.u32()
		case "connect":
			err = jsonOpt(r, &c.Connect, (*jsonReader).connectRequest)
		case "subscribe":
			err = jsonOpt(r, &c.Subscribe, (*jsonReader).subscribeRequest)
		case "unsubscribe":
			err = jsonOpt(r, &c.Unsubscribe, func(r *jsonReader, v *UnsubscribeRequest) error { return r.channelOnly(&v.Channel) })
		case "publish":
			err = jsonOpt(r, &c.Publish, (*jsonReader).publishRequest)
		case "presence":
			err = jsonOpt(r, &c.Presence, func(r *jsonReader, v *PresenceRequest) error { return r.channelOnly(&v.Channel) })
		case "presence_stats":
			err = jsonOpt(r, &c.PresenceStats, func(r *jsonReader, v *PresenceStatsRequest) error { return r.channelOnly(&v.Channel) })
		case "history":
			err = jsonOpt(r, &c.History, (*jsonReader).historyRequest)
		case "ping":
			err = jsonOpt(r, &c.Ping, jsonEmpty[PingRequest])
		case "send":
			err = jsonOpt(r, &c.Send, func(r *jsonReader, v *SendRequest) error { return r.dataOnly(&v.Data) })
		case "rpc":
			err = jsonOpt(r, &c.RPC, (*jsonReader).rpcRequest)
		case "refresh":
			err = jsonOpt(r, &c.Refresh, (*jsonReader).refreshRequest)
		case "sub_refresh":
			err = jsonOpt(r, &c.SubRefresh, (*jsonReader).subRefreshRequest)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

// channelOnly decodes {"channel":…}, the body of several requests.
func (r *jsonReader) channelOnly(ch *string) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		if string(k) == "channel" {
			*ch, err = r.str()
		} else {
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

// dataOnly decodes {"data":…}, the body of several messages.
func (r *jsonReader) dataOnly(data *[]byte) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		if string(k) == "data" {
			*data, err = r.raw()
		} else {
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) connectRequest(c *ConnectRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "token":
			c.Token, err = r.str()
		case "data":
			c.Data, err = r.raw()
		case "subs":
			err = jsonMsgMap(r, &c.Subs, (*jsonReader).subscribeRequest)
		case "name":
			c.Name, err = r.str()
		case "version":
			c.Version, err = r.str()
		case "headers":
			err = r.strMap(&c.Headers)
		case "flag":
			c.Flag, err = r.i64()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) subscribeRequest(s *SubscribeRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "channel":
			s.Channel, err = r.str()
		case "token":
			s.Token, err = r.str()
		case "recover":
			s.Recover, err = r.boolean()
		case "epoch":
			s.Epoch, err = r.str()
		case "offset":
			s.Offset, err = r.u64()
		case "data":
			s.Data, err = r.raw()
		case "positioned":
			s.Positioned, err = r.boolean()
		case "recoverable":
			s.Recoverable, err = r.boolean()
		case "join_leave":
			s.JoinLeave, err = r.boolean()
		case "delta":
			s.Delta, err = r.str()
		case "tf":
			err = jsonOpt(r, &s.Tf, (*jsonReader).filterNode)
		case "flag":
			s.Flag, err = r.i64()
		case "type":
			s.Type, err = r.i32()
		case "phase":
			s.Phase, err = r.i32()
		case "cursor":
			s.Cursor, err = r.str()
		case "limit":
			s.Limit, err = r.i32()
		case "asc":
			s.Asc, err = r.boolean()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) filterNode(n *FilterNode) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "op":
			n.Op, err = r.str()
		case "key":
			n.Key, err = r.str()
		case "cmp":
			n.Cmp, err = r.str()
		case "val":
			n.Val, err = r.str()
		case "vals":
			err = r.strList(&n.Vals)
		case "nodes":
			err = jsonList(r, &n.Nodes, (*jsonReader).filterNode)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) publishRequest(p *PublishRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "channel":
			p.Channel, err = r.str()
		case "data":
			p.Data, err = r.raw()
		case "type":
			p.Type, err = r.i32()
		case "key":
			p.Key, err = r.str()
		case "removed":
			p.Removed, err = r.boolean()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) historyRequest(h *HistoryRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "channel":
			h.Channel, err = r.str()
		case "limit":
			h.Limit, err = r.i32()
		case "since":
			err = jsonOpt(r, &h.Since, (*jsonReader).streamPosition)
		case "reverse":
			h.Reverse, err = r.boolean()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) streamPosition(sp *StreamPosition) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "offset":
			sp.Offset, err = r.u64()
		case "epoch":
			sp.Epoch, err = r.str()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) rpcRequest(v *RPCRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "data":
			v.Data, err = r.raw()
		case "method":
			v.Method, err = r.str()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) refreshRequest(v *RefreshRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		if string(k) == "token" {
			v.Token, err = r.str()
		} else {
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) subRefreshRequest(v *SubRefreshRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "channel":
			v.Channel, err = r.str()
		case "token":
			v.Token, err = r.str()
		case "type":
			v.Type, err = r.i32()
		case "track":
			err = jsonList(r, &v.Track, (*jsonReader).trackBatch)
		case "untrack":
			err = r.strList(&v.Untrack)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) trackBatch(v *TrackBatch) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "signature":
			v.Signature, err = r.str()
		case "items":
			err = jsonList(r, &v.Items, (*jsonReader).keyedItem)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) keyedItem(v *KeyedItem) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "key":
			v.Key, err = r.str()
		case "version":
			v.Version, err = r.u64()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

// emulationRequest decodes the JSON body of /emulation. centrifuge-js sends data as a
// JSON string holding the command text, so a string is unescaped into a fresh slice;
// any other value is kept as raw JSON text (one command object).
func (r *jsonReader) emulationRequest(v *EmulationRequest) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "node":
			v.Node, err = r.str()
		case "session":
			v.Session, err = r.str()
		case "data":
			if r.peek() == '"' {
				var s []byte
				if s, err = r.readString(); err == nil && len(s) > 0 {
					v.Data = append([]byte(nil), s...)
				}
			} else if !r.null() {
				v.Data, err = r.raw()
			}
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

// ---- server → client ----

func (r *jsonReader) reply(v *Reply) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "id":
			v.ID, err = r.u32()
		case "error":
			err = jsonOpt(r, &v.Error, (*jsonReader).errorObj)
		case "push":
			err = jsonOpt(r, &v.Push, (*jsonReader).push)
		case "connect":
			err = jsonOpt(r, &v.Connect, (*jsonReader).connectResult)
		case "subscribe":
			err = jsonOpt(r, &v.Subscribe, (*jsonReader).subscribeResult)
		case "unsubscribe":
			err = jsonOpt(r, &v.Unsubscribe, jsonEmpty[UnsubscribeResult])
		case "publish":
			err = jsonOpt(r, &v.Publish, jsonEmpty[PublishResult])
		case "presence":
			err = jsonOpt(r, &v.Presence, (*jsonReader).presenceResult)
		case "presence_stats":
			err = jsonOpt(r, &v.PresenceStats, (*jsonReader).presenceStatsResult)
		case "history":
			err = jsonOpt(r, &v.History, (*jsonReader).historyResult)
		case "rpc":
			err = jsonOpt(r, &v.RPC, func(r *jsonReader, v *RPCResult) error { return r.dataOnly(&v.Data) })
		case "refresh":
			err = jsonOpt(r, &v.Refresh, (*jsonReader).refreshResult)
		case "sub_refresh":
			err = jsonOpt(r, &v.SubRefresh, (*jsonReader).subRefreshResult)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) errorObj(e *Error) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "code":
			e.Code, err = r.u32()
		case "message":
			e.Message, err = r.str()
		case "temporary":
			e.Temporary, err = r.boolean()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) push(p *Push) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "id":
			p.ID, err = r.i64()
		case "channel":
			p.Channel, err = r.str()
		case "pub":
			err = jsonOpt(r, &p.Pub, (*jsonReader).publication)
		case "join":
			err = jsonOpt(r, &p.Join, func(r *jsonReader, v *Join) error { return r.infoWrapper(&v.Info) })
		case "leave":
			err = jsonOpt(r, &p.Leave, func(r *jsonReader, v *Leave) error { return r.infoWrapper(&v.Info) })
		case "unsubscribe":
			err = jsonOpt(r, &p.Unsubscribe, (*jsonReader).unsubscribePush)
		case "message":
			err = jsonOpt(r, &p.Message, func(r *jsonReader, v *Message) error { return r.dataOnly(&v.Data) })
		case "subscribe":
			err = jsonOpt(r, &p.Subscribe, (*jsonReader).subscribePush)
		case "connect":
			err = jsonOpt(r, &p.Connect, (*jsonReader).connectPush)
		case "disconnect":
			err = jsonOpt(r, &p.Disconnect, (*jsonReader).disconnectPush)
		case "refresh":
			err = jsonOpt(r, &p.Refresh, (*jsonReader).refreshPush)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) clientInfo(ci *ClientInfo) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "user":
			ci.User, err = r.str()
		case "client":
			ci.Client, err = r.str()
		case "conn_info":
			ci.ConnInfo, err = r.raw()
		case "chan_info":
			ci.ChanInfo, err = r.raw()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

// infoWrapper decodes Join/Leave {"info":{…}}; Info is a value, so null leaves it zero.
func (r *jsonReader) infoWrapper(ci *ClientInfo) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		if string(k) == "info" {
			if !r.null() {
				err = r.clientInfo(ci)
			}
		} else {
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) publication(p *Publication) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "data":
			p.Data, err = r.raw()
		case "info":
			err = jsonOpt(r, &p.Info, (*jsonReader).clientInfo)
		case "offset":
			p.Offset, err = r.u64()
		case "tags":
			err = r.strMap(&p.Tags)
		case "delta":
			p.Delta, err = r.boolean()
		case "time":
			p.Time, err = r.i64()
		case "channel":
			p.Channel, err = r.str()
		case "key":
			p.Key, err = r.str()
		case "removed":
			p.Removed, err = r.boolean()
		case "score":
			p.Score, err = r.i64()
		case "epoch":
			p.Epoch, err = r.str()
		case "prev_data":
			p.PrevData, err = r.raw()
		case "version":
			p.Version, err = r.u64()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) unsubscribePush(u *Unsubscribe) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "code":
			u.Code, err = r.u32()
		case "reason":
			u.Reason, err = r.str()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) subscribePush(s *Subscribe) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "recoverable":
			s.Recoverable, err = r.boolean()
		case "epoch":
			s.Epoch, err = r.str()
		case "offset":
			s.Offset, err = r.u64()
		case "positioned":
			s.Positioned, err = r.boolean()
		case "data":
			s.Data, err = r.raw()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) connectPush(c *Connect) error {
	var res ConnectResult
	if err := r.connectResult(&res); err != nil {
		return err
	}
	c.Client, c.Version, c.Data, c.Subs = res.Client, res.Version, res.Data, res.Subs
	c.Expires, c.TTL, c.Ping, c.Pong = res.Expires, res.TTL, res.Ping, res.Pong
	c.Session, c.Node, c.Time = res.Session, res.Node, res.Time
	return nil
}

func (r *jsonReader) connectResult(c *ConnectResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "client":
			c.Client, err = r.str()
		case "version":
			c.Version, err = r.str()
		case "expires":
			c.Expires, err = r.boolean()
		case "ttl":
			c.TTL, err = r.u32()
		case "data":
			c.Data, err = r.raw()
		case "subs":
			err = jsonMsgMap(r, &c.Subs, (*jsonReader).subscribeResult)
		case "ping":
			c.Ping, err = r.u32()
		case "pong":
			c.Pong, err = r.boolean()
		case "session":
			c.Session, err = r.str()
		case "node":
			c.Node, err = r.str()
		case "time":
			c.Time, err = r.i64()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) disconnectPush(d *Disconnect) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "code":
			d.Code, err = r.u32()
		case "reason":
			d.Reason, err = r.str()
		case "reconnect":
			d.Reconnect, err = r.boolean()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) refreshPush(v *Refresh) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "expires":
			v.Expires, err = r.boolean()
		case "ttl":
			v.TTL, err = r.u32()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) subscribeResult(s *SubscribeResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "expires":
			s.Expires, err = r.boolean()
		case "ttl":
			s.TTL, err = r.u32()
		case "recoverable":
			s.Recoverable, err = r.boolean()
		case "epoch":
			s.Epoch, err = r.str()
		case "publications":
			err = jsonList(r, &s.Publications, (*jsonReader).publication)
		case "recovered":
			s.Recovered, err = r.boolean()
		case "offset":
			s.Offset, err = r.u64()
		case "positioned":
			s.Positioned, err = r.boolean()
		case "data":
			s.Data, err = r.raw()
		case "was_recovering":
			s.WasRecovering, err = r.boolean()
		case "delta":
			s.Delta, err = r.boolean()
		case "id":
			s.ID, err = r.i64()
		case "type":
			s.Type, err = r.i32()
		case "phase":
			s.Phase, err = r.i32()
		case "cursor":
			s.Cursor, err = r.str()
		case "state":
			err = jsonList(r, &s.State, (*jsonReader).publication)
		case "publish_debounce":
			s.PublishDebounce, err = r.u32()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) presenceResult(v *PresenceResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		if string(k) == "presence" {
			err = jsonMsgMap(r, &v.Presence, (*jsonReader).clientInfo)
		} else {
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) presenceStatsResult(v *PresenceStatsResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "num_clients":
			v.NumClients, err = r.u32()
		case "num_users":
			v.NumUsers, err = r.u32()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) historyResult(v *HistoryResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "publications":
			err = jsonList(r, &v.Publications, (*jsonReader).publication)
		case "epoch":
			v.Epoch, err = r.str()
		case "offset":
			v.Offset, err = r.u64()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) refreshResult(v *RefreshResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "client":
			v.Client, err = r.str()
		case "version":
			v.Version, err = r.str()
		case "expires":
			v.Expires, err = r.boolean()
		case "ttl":
			v.TTL, err = r.u32()
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}

func (r *jsonReader) subRefreshResult(v *SubRefreshResult) error {
	more, err := r.beginObject()
	for more && err == nil {
		var k []byte
		if k, err = r.key(); err != nil {
			return err
		}
		switch string(k) {
		case "expires":
			v.Expires, err = r.boolean()
		case "ttl":
			v.TTL, err = r.u32()
		case "items":
			err = jsonList(r, &v.Items, (*jsonReader).publication)
		default:
			err = r.skip()
		}
		if err == nil {
			more, err = r.nextMember()
		}
	}
	return err
}
