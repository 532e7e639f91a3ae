package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// conditional parses the request's If-Match and hands it to the service in
// the request context; the service checks it on the state it writes
// (docs/http.md, "Concurrency"). The returned Conditions receive the ETag
// of the document after the call.
func conditional(c *echo.Context) (*service.Conditions, error) {
	tags, err := parseIfMatch(c.Request().Header.Values("If-Match"))
	if err != nil {
		return nil, err
	}
	return withConditions(c, &service.Conditions{IfMatch: tags}), nil
}

func withConditions(c *echo.Context, cond *service.Conditions) *service.Conditions {
	c.SetRequest(c.Request().WithContext(service.WithConditions(c.Request().Context(), cond)))
	return cond
}

// docOp is the shape of the service's single-document operations: the
// caller, the document the path names (:c/:id), and what the request adds
// (fields to read, the update, the replacement, the version).
type docOp[A any] func(ctx context.Context, p *principal.Principal, coll, id string, arg A) (bson.Raw, error)

// conditionalDoc is oneDoc for a write: under the request's If-Match.
func conditionalDoc[A any](c *echo.Context, op docOp[A], arg A) error {
	cond, err := conditional(c)
	if err != nil {
		return err
	}
	return oneDoc(c, cond, op, arg)
}

// oneDoc runs op on the document the path names with cond in the request
// context and answers the document op returns with the ETag the service
// left in cond: every single-document endpoint answers alike.
func oneDoc[A any](c *echo.Context, cond *service.Conditions, op docOp[A], arg A) error {
	out, err := op(c.Request().Context(), principalOf(c), c.Param("c"), c.Param("id"), arg)
	if err != nil {
		return err
	}
	setETag(c, cond)
	return writeDoc(c, http.StatusOK, out)
}

// parseIfMatch reads If-Match values (RFC 9110 §13.1.1): "*" or a list of
// entity tags, each "opaque" or W/"opaque". Weak tags are kept so that they
// fail the strong comparison If-Match requires instead of being dropped
// (which would make the request unconditional).
func parseIfMatch(values []string) ([]string, error) {
	var tags []string
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			switch {
			case t == "":
				continue
			case t == "*":
			case validETag(strings.TrimPrefix(t, "W/")):
			default:
				return nil, apperr.Invalid(`If-Match must be "*" or a list of quoted entity tags, as sent in ETag`)
			}
			tags = append(tags, t)
		}
	}
	if len(values) > 0 && len(tags) == 0 {
		return nil, apperr.Invalid(`If-Match is empty; send the ETag of the document, or "*"`)
	}
	return tags, nil
}

func validETag(t string) bool {
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return false
	}
	for i := 1; i < len(t)-1; i++ {
		// etagc: %x21 / %x23-7E / obs-text
		if c := t[i]; c == '"' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

// setETag sends the tag the service reported, if any.
func setETag(c *echo.Context, cond *service.Conditions) {
	if cond.ETag != "" {
		c.Response().Header().Set("ETag", cond.ETag)
	}
}
