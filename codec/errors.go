package codec

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error: the input is not a valid frame of
// the protocol (bad JSON, bad varint, truncated message, empty line, empty frame…).
// The engine answers it with disconnect 3501 "bad request".
var ErrMalformed = errors.New("codec: malformed command")

// ErrInvalidJSON is returned by the JSON encoders when a raw payload field (data,
// info, conn_info, chan_info, …) cannot be embedded in a JSON message as is. Only a
// cheap shape check is done on encode (see rawEmbeddable); ValidJSON does the full
// check and belongs where payloads enter the server.
var ErrInvalidJSON = errors.New("codec: raw field is not embeddable JSON")

// The decoding errors are preallocated so that a hostile client flooding bad frames
// costs no allocation per error; each wraps ErrMalformed for errors.Is.
var (
	errEmptyFrame   = fmt.Errorf("%w: frame holds no command", ErrMalformed)
	errEmptyLine    = fmt.Errorf("%w: empty line in JSON frame", ErrMalformed)
	errJSONSyntax   = fmt.Errorf("%w: invalid JSON", ErrMalformed)
	errJSONType     = fmt.Errorf("%w: JSON value of unexpected type", ErrMalformed)
	errJSONNumber   = fmt.Errorf("%w: JSON number out of range or not an integer", ErrMalformed)
	errJSONDepth    = fmt.Errorf("%w: JSON nested too deeply", ErrMalformed)
	errJSONTrailing = fmt.Errorf("%w: data after JSON object", ErrMalformed)
	errPBVarint     = fmt.Errorf("%w: bad protobuf length prefix", ErrMalformed)
	errPBTruncated  = fmt.Errorf("%w: protobuf message longer than frame", ErrMalformed)
	errPBField      = fmt.Errorf("%w: bad protobuf field", ErrMalformed)
	errPBDepth      = fmt.Errorf("%w: protobuf nested too deeply", ErrMalformed)
)

// maxDepth bounds object/array (JSON) and message (Protobuf) nesting so a hostile
// frame cannot make the recursive decoders use unbounded stack. No real command or
// payload comes close.
const maxDepth = 1000
