package api

import "net/http"

// holdLimit is how much of a response heldResponse keeps in memory. Past it
// the body goes out as it is written, all but its last byte.
const holdLimit = 256 << 10

// heldResponse keeps a response from reaching the client until its audit
// entry is durable (audited calls release after audit.Op.Wait). Until then
// the status and body stay here; the headers are the underlying writer's
// own map, sent with the status.
//
// A large body is not held whole: past holdLimit it is passed on, except for
// its last byte. Whatever the framing (Content-Length or chunked; HTTP/2's
// end of stream comes after the handler returns anyway), a client cannot
// have a complete response without that byte, so "answered" still means
// "audited".
type heldResponse struct {
	w      http.ResponseWriter
	status int
	buf    []byte
	// passing: the status is sent and buf is only the held tail.
	passing bool
	err     error // of the underlying writer, once passing
}

func (h *heldResponse) Header() http.Header { return h.w.Header() }

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if len(p) == 0 {
		return 0, h.err
	}
	if !h.passing {
		h.buf = append(h.buf, p...)
		if len(h.buf) > holdLimit {
			h.passing = true
			h.w.WriteHeader(h.status)
			h.pass(h.buf[:len(h.buf)-1])
			h.buf = append(h.buf[:0], h.buf[len(h.buf)-1])
		}
		return len(p), h.err
	}
	h.pass(h.buf)
	h.pass(p[:len(p)-1])
	h.buf = append(h.buf[:0], p[len(p)-1])
	return len(p), h.err
}

func (h *heldResponse) pass(p []byte) {
	if h.err == nil && len(p) > 0 {
		_, h.err = h.w.Write(p)
	}
}

// Unwrap lets http.ResponseController reach the connection (the import
// handler sets read deadlines through it). Flushing through it sends only
// what was passed on already.
func (h *heldResponse) Unwrap() http.ResponseWriter { return h.w }

// release sends what is held.
func (h *heldResponse) release() {
	if !h.passing {
		if h.status == 0 {
			return // nothing was written; net/http answers as usual
		}
		h.w.WriteHeader(h.status)
	}
	h.pass(h.buf)
	h.buf = nil
}
