package api

import (
	"net/http"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// create: POST /collections/:c → 201 {data: document as the caller may read it}.
func (s *Server) create(c *echo.Context) error {
	doc, err := s.jsonDoc(c)
	if err != nil {
		return err
	}
	cond := &service.Conditions{} // receives the new document's ETag
	c.SetRequest(c.Request().WithContext(service.WithConditions(c.Request().Context(), cond)))
	out, err := s.svc.Create(c.Request().Context(), principalOf(c), c.Param("c"), doc)
	if err != nil {
		return err
	}
	setETag(c, cond)
	return writeDoc(c, http.StatusCreated, out)
}

func (s *Server) jsonDoc(c *echo.Context) (bson.D, error) {
	body, err := s.readBody(c)
	if err != nil {
		return nil, err
	}
	return query.ParseJSONDoc(body)
}

// fieldsOnly reads the one query parameter a read of one document takes,
// ?fields=a,b (nil: every field the caller may read).
func fieldsOnly(c *echo.Context) ([]string, error) {
	q, err := checkQuery(c, "fields")
	if err != nil {
		return nil, err
	}
	return query.ParseFields(q.Get("fields"))
}

// get: GET /collections/:c/:id?fields=a,b.
func (s *Server) get(c *echo.Context) error {
	fields, err := fieldsOnly(c)
	if err != nil {
		return err
	}
	cond := withConditions(c, &service.Conditions{}) // If-Match is for writes; GET only reports the ETag
	return oneDoc(c, cond, s.svc.Get, fields)
}

// patch: PATCH /collections/:c/:id with a merge patch or update operators.
func (s *Server) patch(c *echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	// ParseUpdateJSON refuses a top-level array (pipeline update) with a
	// clear message.
	upd, err := query.ParseJSONDoc(body)
	if err != nil {
		if _, perr := query.ParseUpdateJSON(body); perr != nil {
			return perr
		}
		return err
	}
	return conditionalDoc(c, s.svc.Patch, upd)
}

// replace: PUT /collections/:c/:id with the full document.
func (s *Server) replace(c *echo.Context) error {
	doc, err := s.jsonDoc(c)
	if err != nil {
		return err
	}
	return conditionalDoc(c, s.svc.Replace, doc)
}

// remove: DELETE /collections/:c/:id → {data: {deleted: true, id}}.
func (s *Server) remove(c *echo.Context) error {
	if _, err := conditional(c); err != nil {
		return err
	}
	id, err := s.svc.Delete(c.Request().Context(), principalOf(c), c.Param("c"), c.Param("id"))
	if err != nil {
		return err
	}
	raw, err := bson.Marshal(bson.D{{Key: "deleted", Value: true}, {Key: "id", Value: id}})
	if err != nil {
		return apperr.Wrap(apperr.KindInternal, err, "cannot encode response")
	}
	return writeDoc(c, http.StatusOK, raw)
}

// list: GET /collections/:c?filter=<json>&sort=a,-b&limit=&cursor=&fields=.
func (s *Server) list(c *echo.Context) error {
	q, err := checkQuery(c, "filter", "sort", "limit", "cursor", "fields", "count")
	if err != nil {
		return err
	}
	var req service.FindRequest
	if f := q.Get("filter"); f != "" {
		if req.Filter, err = query.ParseJSONDoc([]byte(f)); err != nil {
			return err
		}
	}
	if req.Sort, err = query.ParseSortParam(q.Get("sort")); err != nil {
		return err
	}
	if req.Limit, err = limitParam(q); err != nil {
		return err
	}
	req.Cursor = q.Get("cursor")
	if req.Fields, err = query.ParseFields(q.Get("fields")); err != nil {
		return err
	}
	switch q.Get("count") {
	case "", "false":
	case "true":
		req.Count = true
	default:
		return apperr.Invalid("count must be true or false")
	}
	return s.runFind(c, req)
}

// find: POST /collections/:c/find {filter, sort, limit, cursor, fields}.
func (s *Server) find(c *echo.Context) error {
	m, err := s.bodyObject(c, "filter", "sort", "limit", "cursor", "fields", "count")
	if err != nil {
		return err
	}
	var req service.FindRequest
	if req.Filter, err = docMember(m, "filter"); err != nil {
		return err
	}
	sortSpec, _, err := stringsMember(m, "sort")
	if err != nil {
		return err
	}
	if req.Sort, err = query.ParseSort(sortSpec); err != nil {
		return err
	}
	if req.Limit, err = intMember(m, "limit"); err != nil {
		return err
	}
	if req.Cursor, err = stringMember(m, "cursor", false); err != nil {
		return err
	}
	fields, given, err := stringsMember(m, "fields")
	if err != nil {
		return err
	}
	if given {
		if req.Fields, err = query.ParseFieldList(fields); err != nil {
			return err
		}
	}
	if v, ok := m["count"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			return apperr.Invalid(`"count" must be true or false`)
		}
		req.Count = b
	}
	return s.runFind(c, req)
}

func (s *Server) runFind(c *echo.Context, req service.FindRequest) error {
	page, err := s.svc.Find(c.Request().Context(), principalOf(c), c.Param("c"), req)
	if err != nil {
		return err
	}
	return writeList(c, page.Docs, page.Cursor, page.HasMore, page.Total)
}

// count: POST /collections/:c/count {filter} → {data: {count}}.
func (s *Server) count(c *echo.Context) error {
	m, err := s.bodyObject(c, "filter")
	if err != nil {
		return err
	}
	filter, err := docMember(m, "filter")
	if err != nil {
		return err
	}
	n, err := s.svc.Count(c.Request().Context(), principalOf(c), c.Param("c"), filter)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"count": n})
}

// aggregate: POST /collections/:c/aggregate {pipeline: [...]} → {data: [...]}.
func (s *Server) aggregate(c *echo.Context) error {
	stages, err := s.bodyArray(c, "pipeline", "stages")
	if err != nil {
		return err
	}
	docs, err := s.svc.Aggregate(c.Request().Context(), principalOf(c), c.Param("c"), stages)
	if err != nil {
		return err
	}
	return writeDocs(c, docs)
}
