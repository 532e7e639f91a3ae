package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// The one audit path (docs/audit.md): audited wraps every route but the
// probes. It begins the request's audit.Op before anything else runs (a
// refusal is a 503 and nothing runs: no authentication, no handler), puts it
// in the request context where the authenticator and the service add the
// caller and the documents, and finishes it with the status and code sent.

// auditAction is the action of the matched route's row in the route table
// (routes.go).
func (s *Server) auditAction(c *echo.Context) string {
	path := c.Path()
	if path == "" || c.RouteInfo().Method == echo.RouteNotFound {
		return "unmatched"
	}
	if r := s.routes[routeKey(c.Request().Method, path)]; r != nil {
		return r.action
	}
	// A path matched without its method (405): recorded as what was asked.
	return strings.ToLower(routeKey(c.Request().Method, path))
}

// clientIP is the peer address. X-Forwarded-For is not trusted: anyone can
// send it, and an audit record must not carry an address the client chose.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audited is the audit middleware (see above). Without a Writer (tests,
// benchmarks of the bare proxy) it does nothing.
func (s *Server) audited(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if s.audit == nil || s.unaudited[c.Path()] {
			return next(c)
		}
		r := c.Request()
		base := audit.Entry{
			RequestID: requestIDOf(c),
			Action:    s.auditAction(c),
			IP:        clientIP(r),
			UserAgent: r.UserAgent(),
		}
		if strings.HasPrefix(c.Path(), "/collections/:c") {
			base.Collection = c.Param("c")
		} else if id := c.Param("id"); id != "" {
			// Admin and grant endpoints: the key or grant id is the
			// document touched (an id, never a secret).
			base.DocIDs = []string{id}
		}
		op, err := s.audit.Begin(r.Context(), base)
		if err != nil {
			return err // KindUnavailable: 503, nothing ran
		}
		// The response is held until the entry is durable (audithold.go).
		resp, err := echo.UnwrapResponse(c.Response())
		if err != nil {
			op.Finish(http.StatusInternalServerError, "INTERNAL")
			return err
		}
		orig := resp.ResponseWriter
		held := &heldResponse{w: orig}
		resp.ResponseWriter = held
		answered := false
		defer func() {
			if answered {
				return
			}
			// A panic: the entry says 500, and so does the client, unless
			// part of the body is gone already (recoverPanic, outside,
			// answers when the response is not committed).
			resp.ResponseWriter = orig
			if !held.passing {
				resp.Committed, resp.Status, resp.Size = false, 0, 0
			}
			op.Finish(http.StatusInternalServerError, "INTERNAL")
			_ = op.Wait(r.Context())
		}()
		c.SetRequest(r.WithContext(audit.NewContext(r.Context(), op)))
		err = next(c)
		if err != nil {
			// Write the error now, so that the status recorded is the one
			// sent (observe then finds the response committed).
			s.handleError(c, err)
		}
		_, status := echo.ResolveResponseStatus(c.Response(), nil)
		code := ""
		if err != nil && status >= 400 {
			_, _, code = classify(err)
		}
		op.Finish(status, code)
		if err := op.Wait(r.Context()); err != nil {
			// The operation ran; hiding its answer would only make the
			// client retry it. The entry stays queued (fail_closed refuses
			// new operations meanwhile), and the metric
			// pm_audit_unconfirmed_total counts these answers.
			s.log.Error("answering before the audit entry is durable", "request_id", base.RequestID, "err", err)
		}
		answered = true
		resp.ResponseWriter = orig
		held.release()
		return nil
	}
}

// auditReady adds the audit writer to the readiness probe: a proxy whose
// audit refuses requests must not get traffic.
func auditReady(ready func(context.Context) error, w *audit.Writer) func(context.Context) error {
	if w == nil {
		return ready
	}
	return func(ctx context.Context) error {
		if ready != nil {
			if err := ready(ctx); err != nil {
				return err
			}
		}
		if err := w.Available(); err != nil {
			return apperr.Wrap(apperr.KindUnavailable, err, "audit log unavailable")
		}
		return nil
	}
}

func timeParam(q map[string][]string, key string) (*time.Time, error) {
	v := ""
	if vs := q[key]; len(vs) > 0 {
		v = vs[0]
	}
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, apperr.Invalid("%q must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z", key)
	}
	return &t, nil
}

// auditLog: GET /audit?collection=&actor=&action=&outcome=&doc_id=&from=&to=&limit=&cursor=
// → {data: [entries], pagination: {cursor, has_more}}, newest first.
func (s *Server) auditLog(c *echo.Context) error {
	q, err := checkQuery(c, "collection", "actor", "action", "outcome", "doc_id", "from", "to", "limit", "cursor")
	if err != nil {
		return err
	}
	aq := service.AuditQuery{
		Collection: q.Get("collection"), Actor: q.Get("actor"), Action: q.Get("action"),
		Outcome: q.Get("outcome"), DocID: q.Get("doc_id"), Cursor: q.Get("cursor"),
	}
	if aq.From, err = timeParam(q, "from"); err != nil {
		return err
	}
	if aq.To, err = timeParam(q, "to"); err != nil {
		return err
	}
	if aq.Limit, err = limitParam(q); err != nil {
		return err
	}
	entries, next, err := s.svc.AuditLog(c.Request().Context(), principalOf(c), aq)
	if err != nil {
		return err
	}
	audit.FromContext(c.Request().Context()).AddCount(int64(len(entries)))
	var cur any
	if next != "" {
		cur = next
	}
	b, err := json.Marshal(map[string]any{
		"data":       entries,
		"pagination": map[string]any{"cursor": cur, "has_more": next != ""},
	})
	if err != nil {
		return apperr.Wrap(apperr.KindInternal, err, "cannot encode response")
	}
	return sendJSON(c, http.StatusOK, b)
}

// auditVerify: GET /audit/verify?from=&to= → {data: {ok, checked, first_bad_id?}}.
func (s *Server) auditVerify(c *echo.Context) error {
	q, err := checkQuery(c, "from", "to")
	if err != nil {
		return err
	}
	var from, to time.Time
	if f, err := timeParam(q, "from"); err != nil {
		return err
	} else if f != nil {
		from = *f
	}
	if t, err := timeParam(q, "to"); err != nil {
		return err
	} else if t != nil {
		to = *t
	}
	res, err := s.svc.AuditVerify(c.Request().Context(), principalOf(c), from, to)
	if err != nil {
		return err
	}
	audit.FromContext(c.Request().Context()).AddCount(int64(res.Checked))
	return writeData(c, http.StatusOK, res)
}
