package codec

// DecodeConnectRequest decodes the ConnectRequest a unidirectional client sends on its
// own (not in a Command envelope): the JSON body of uni_http_stream and uni_sse, the
// cf_connect parameter, the first uni_websocket message. Empty input and JSON null are
// an empty request. Raw fields (data) alias b. Errors wrap ErrMalformed.
func DecodeConnectRequest(b []byte, req *ConnectRequest) error {
	*req = ConnectRequest{}
	r := jsonReader{b: b}
	if r.ws(); r.i == len(b) || r.null() {
		return r.end()
	}
	if err := r.connectRequest(req); err != nil {
		return err
	}
	return r.end()
}

// UnquoteJSONString returns the text of the JSON string literal s (the data of a JSON
// EmulationRequest as Centrifugo nodes forward it to each other: the command text
// still quoted). Errors wrap ErrMalformed.
func UnquoteJSONString(s []byte) ([]byte, error) {
	r := jsonReader{b: s}
	r.ws()
	if r.peek() != '"' {
		return nil, errJSONSyntax
	}
	v, err := r.readString()
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, r.end()
}
