package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// ReadJSON decodes the request body, a JSON object, into a T. An empty body
// gives T's zero value, as the AWS SDKs send no body when an operation's
// input has no body members. Unknown members are ignored, as AWS services
// do, so newer clients keep working. A body that is not valid JSON, or has
// data after the object, is an InvalidRequestException.
func ReadJSON[T any](r *http.Request) (T, error) {
	var v T
	if r.Body == nil {
		return v, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return v, Errorf(InvalidRequest, "The request body could not be read").WithCause(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		return v, Errorf(InvalidRequest, "The request body is not valid JSON for %s", describeJSONError(err)).WithCause(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return v, Errorf(InvalidRequest, "The request body has data after the JSON value")
	}
	return v, nil
}

// describeJSONError turns a decoding error into text safe to send: where and
// what went wrong, without echoing the body.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("this operation: syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("this operation: member %q must be a %s, not a JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("this operation: expected a %s, not a JSON %s", te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "this operation: unexpected end of input"
	default:
		return "this operation"
	}
}

// WriteJSON writes v as a 200 application/json response, every restJson1
// operation's success status. v is encoded before anything is written, so
// an encoding error leaves the response untouched and can be returned by the
// handler.
func WriteJSON(w http.ResponseWriter, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("httpapi: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	return err
}

// QueryInt returns the query parameter name as an int64 and whether it was
// present. A value that is not an integer is an InvalidRequestException.
func QueryInt(r *http.Request, name string) (int64, bool, error) {
	s, ok := queryValue(r, name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, Errorf(InvalidRequest, "Query parameter %s must be an integer", name)
	}
	return n, true, nil
}

// QueryBool returns the query parameter name as a bool and whether it was
// present. The AWS SDKs send "true" or "false"; anything else is an
// InvalidRequestException.
func QueryBool(r *http.Request, name string) (bool, bool, error) {
	s, ok := queryValue(r, name)
	if !ok {
		return false, false, nil
	}
	switch s {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, Errorf(InvalidRequest, "Query parameter %s must be true or false", name)
}

func queryValue(r *http.Request, name string) (string, bool) {
	vs, ok := r.URL.Query()[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}
