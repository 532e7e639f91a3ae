package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// Streamed imports: POST /collections/:c/import with an NDJSON body
// (docs/import.md).
//
// Limits. The import body has no total size cap (the contract says "any
// size"): it is never read whole, so its size does not decide the memory
// used. The per-request body cap (MaxBodyBytes, applied by readBody) is not
// applied to the body as a whole; it caps each line instead, since a line is
// one document and a document too large for POST /collections/{c} must not
// enter through an import. Memory is one line, one chunk of checked
// documents (service.ImportOptions) and the capped failure list.
//
// Time. The server's ReadTimeout and WriteTimeout would cut an import that
// lasts longer than them, so the handler turns them into an idle timeout:
// while the body flows the read and write deadlines are pushed forward; a
// client silent for importIdleTimeout stops the import.

// importIdleTimeout is how long an import waits for the next bytes of its
// body, and the time given to write the answer after the last line.
const importIdleTimeout = 60 * time.Second

// importReadBuffer is the size of the bufio.Reader over the body; longer
// lines are assembled from several reads, up to the line cap.
const importReadBuffer = 64 << 10

// deadlineReader pushes the connection's read and write deadlines forward
// while the body is read, so that the server's whole-request timeouts do not
// apply to an import, but a stalled client still does.
type deadlineReader struct {
	r    io.Reader
	rc   *http.ResponseController
	next time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.After(d.next) {
		// ErrNotSupported (a ResponseWriter without deadlines) leaves the
		// server's own timeouts in place.
		_ = d.rc.SetReadDeadline(now.Add(importIdleTimeout))
		_ = d.rc.SetWriteDeadline(now.Add(2 * importIdleTimeout))
		d.next = now.Add(importIdleTimeout / 8)
	}
	return d.r.Read(p)
}

// lineSource reads NDJSON lines for service.Import. Blank lines are skipped
// (they still count in the line numbers); a line longer than max bytes is
// reported and skipped without being held in memory.
type lineSource struct {
	r    *bufio.Reader
	max  int
	buf  []byte
	line int64
	done bool
}

// errReadBody marks an error reading the request body, to tell it from the
// database's errors when an import stops.
type errReadBody struct{ err error }

func (e errReadBody) Error() string { return "reading the request body: " + e.err.Error() }
func (e errReadBody) Unwrap() error { return e.err }

func (ls *lineSource) Next() (service.ImportItem, error) {
	for {
		if ls.done {
			return service.ImportItem{}, io.EOF
		}
		ls.buf = ls.buf[:0]
		tooLong := false
		var err error
		for {
			var frag []byte
			frag, err = ls.r.ReadSlice('\n')
			if !tooLong {
				// +2: the line ending ("\n" or "\r\n") is not part of the line.
				if len(ls.buf)+len(frag) > ls.max+2 {
					tooLong = true
					ls.buf = ls.buf[:0]
				} else {
					ls.buf = append(ls.buf, frag...)
				}
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil {
			if err != io.EOF {
				return service.ImportItem{}, errReadBody{err}
			}
			ls.done = true
			if len(ls.buf) == 0 && !tooLong {
				return service.ImportItem{}, io.EOF
			}
		}
		ls.line++
		content := bytes.TrimSuffix(bytes.TrimSuffix(ls.buf, []byte("\n")), []byte("\r"))
		if tooLong || len(content) > ls.max {
			return service.ImportItem{Line: ls.line, Err: apperr.New(apperr.KindTooLarge, "line is longer than %d bytes", ls.max)}, nil
		}
		content = bytes.TrimSpace(content)
		if len(content) == 0 {
			continue
		}
		doc, perr := query.ParseJSONDoc(content)
		return service.ImportItem{Line: ls.line, Doc: doc, Err: perr}, nil
	}
}

// lineErrors renders the per-line failures with the same codes and
// client-safe messages as single requests.
func lineErrors(fs []service.LineError) []map[string]any {
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		out = append(out, map[string]any{"line": f.Line, "error": itemErrorInfo(f.Err)})
	}
	return out
}

// importDocs: POST /collections/:c/import, body application/x-ndjson.
//
// Answers {data: {import_id, inserted, failed: [{line, error}],
// failed_count, audit_id}}. The create action is checked before the body is
// read. Imports are not atomic: when an import stops early (the client goes
// away, the body is cut, the database fails), the documents of the chunks
// already written stay; the error answer (if anyone still reads it) and the
// log say how many were inserted.
func (s *Server) importDocs(c *echo.Context) error {
	req := c.Request()
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/x-ndjson" {
		return apperr.Invalid("Content-Type must be application/x-ndjson")
	}
	body := &deadlineReader{r: req.Body, rc: http.NewResponseController(c.Response())}
	src := &lineSource{r: bufio.NewReaderSize(body, importReadBuffer), max: int(min(s.maxBody, 1<<30))}
	p := principalOf(c)
	coll := c.Param("c")
	res, err := s.svc.Import(req.Context(), p, coll, src, service.ImportOptions{})
	if err != nil {
		if res == nil {
			return err // refused before the body was read
		}
		s.log.Warn("import stopped", "request_id", requestIDOf(c), "import_id", res.ImportID, "collection", coll,
			"actor", p.ID, "inserted", res.Inserted, "failed", res.FailedCount, "last_line", res.LastLine,
			"duration", res.Duration, "err", err)
		kind, why := apperr.KindOf(err), "the database failed"
		var rb errReadBody
		switch {
		case errors.As(err, &rb):
			kind, why = apperr.KindInvalid, "the request body could not be read"
		case errors.Is(err, context.Canceled):
			why = "the request was canceled"
		case kind == apperr.KindInternal:
			why = "internal error"
		}
		return apperr.Wrap(kind, err, "import stopped after line %d (%s); %d documents were inserted; imports are not atomic",
			res.LastLine, why, res.Inserted).
			WithDetails(map[string]any{"import_id": res.ImportID, "inserted": res.Inserted, "failed_count": res.FailedCount, "last_line": res.LastLine})
	}
	s.log.Info("import finished", "request_id", requestIDOf(c), "import_id", res.ImportID, "collection", coll,
		"actor", p.ID, "inserted", res.Inserted, "failed", res.FailedCount, "lines", res.LastLine, "duration", res.Duration)
	return writeData(c, http.StatusOK, map[string]any{
		"import_id":    res.ImportID,
		"inserted":     res.Inserted,
		"failed":       lineErrors(res.Failed),
		"failed_count": res.FailedCount,
		// The import's one audit entry carries this request id; its own id
		// (writer-sequence) is only assigned when the entry is written.
		"audit_id": auditIDOf(s, c),
	})
}

// auditIDOf is the id under which the request's audit entry can be found
// (its request_id), or "" when the server runs without audit.
func auditIDOf(s *Server, c *echo.Context) string {
	if s.audit == nil {
		return ""
	}
	return requestIDOf(c)
}
