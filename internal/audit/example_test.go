package audit_test

import (
	"context"
	"net/http"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// The one audit path: a middleware around every route begins the Op before
// the handler runs (refusing the request with 503 when audit cannot take
// it) and finishes it with the status actually sent. Handlers and the
// service only add details through the context. Shown with net/http; the
// echo version is the same shape.
func ExampleWriter_Begin() {
	var w *audit.Writer // built once in cmd/ with audit.NewWriter

	audited := func(action string, next http.HandlerFunc) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			op, err := w.Begin(r.Context(), audit.Entry{
				RequestID:  r.Header.Get("X-Request-ID"),
				Action:     action,
				Collection: r.PathValue("c"),
				IP:         r.RemoteAddr,
				UserAgent:  r.UserAgent(),
			})
			if err != nil {
				// apperr.KindUnavailable: answer 503 without running anything.
				http.Error(rw, "audit log unavailable", http.StatusServiceUnavailable)
				return
			}
			rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
			// A panic still leaves an entry; the first Finish wins.
			defer op.Finish(http.StatusInternalServerError, "INTERNAL")
			next(rec, r.WithContext(audit.NewContext(r.Context(), op)))
			op.Finish(rec.status, rec.code)
		}
	}

	// In the authentication middleware, once the caller is known:
	authenticated := func(ctx context.Context, p *principal.Principal) {
		audit.FromContext(ctx).SetActor(p)
	}
	// In the service, once the documents are known:
	updated := func(ctx context.Context, id string, fields []string) {
		op := audit.FromContext(ctx)
		op.AddDocIDs(id)
		op.AddCount(1)
		op.AddChangedFields(fields...) // names only, never values
	}
	_, _, _ = audited, authenticated, updated
	_ = apperr.KindUnavailable
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	code   string // the contract's error code, set by the error mapper
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
