package api

import (
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
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
	cond := &service.Conditions{IfMatch: tags}
	c.SetRequest(c.Request().WithContext(service.WithConditions(c.Request().Context(), cond)))
	return cond, nil
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
