package codec

// Standalone Protobuf encodings of the client-protocol Publication and ClientInfo
// messages, as Centrifugo stores them in Redis (history stream entries, PUB/SUB
// payloads, presence hashes): the message body alone, without a length prefix.

// AppendPublicationProto appends the Protobuf encoding of p (fields in number order,
// tags sorted by key) to dst.
func AppendPublicationProto(dst []byte, p *Publication) []byte {
	var buf [sortBuf]strPair
	tags := sortedPairs(p.Tags, &buf)
	return appendPBPublication(dst, p, tags)
}

// PublicationProtoSize is len(AppendPublicationProto(nil, p)).
func PublicationProtoSize(p *Publication) int {
	var buf [sortBuf]strPair
	return sizePublication(p, sortedPairs(p.Tags, &buf))
}

// DecodePublicationProto decodes a Protobuf Publication from b into p, which should
// be zero. Data, PrevData and Info's byte fields alias b; strings are copies.
func DecodePublicationProto(b []byte, p *Publication) error {
	return pbPublication(b, p, 0)
}

// AppendClientInfoProto appends the Protobuf encoding of ci to dst.
func AppendClientInfoProto(dst []byte, ci *ClientInfo) []byte {
	return appendPBClientInfo(dst, ci)
}

// DecodeClientInfoProto decodes a Protobuf ClientInfo from b into ci. ConnInfo and
// ChanInfo alias b.
func DecodeClientInfoProto(b []byte, ci *ClientInfo) error {
	return pbClientInfo(b, ci, 0)
}
