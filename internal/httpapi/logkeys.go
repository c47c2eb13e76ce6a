package httpapi

// Log keys used by this package, snake_case (STYLE.md rule 9).
const (
	keyRequestID = "request_id"
	keyOp        = "op"
	keyMethod    = "method"
	keyPath      = "path"
	keyCode      = "code"
	keyReason    = "reason"
	keyErr       = "err"
)
