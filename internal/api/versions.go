package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// versionParam reads :v, a version number (1, 2, ...).
func versionParam(c *echo.Context) (int64, error) {
	v, err := strconv.ParseInt(c.Param("v"), 10, 64)
	if err != nil || v < 1 {
		return 0, apperr.Invalid("version must be a positive integer")
	}
	return v, nil
}

// listVersions: GET /collections/:c/:id/versions → {data: [{version, op,
// updated_by, updated_at}]}, newest first.
func (s *Server) listVersions(c *echo.Context) error {
	list, err := s.svc.ListVersions(c.Request().Context(), principalOf(c), c.Param("c"), c.Param("id"))
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, list)
}

// getVersion: GET /collections/:c/:id/versions/:v?fields=a,b → {data:
// document as of v}, read rules applied.
func (s *Server) getVersion(c *echo.Context) error {
	fields, err := fieldsOnly(c)
	if err != nil {
		return err
	}
	v, err := versionParam(c)
	if err != nil {
		return err
	}
	out, err := s.svc.GetVersion(c.Request().Context(), principalOf(c), c.Param("c"), c.Param("id"), v, fields)
	if err != nil {
		return err
	}
	return writeDoc(c, http.StatusOK, out)
}

// restoreVersion: POST /collections/:c/:id/versions/:v/restore → {data:
// document} as the caller may read it; needs the restore action.
func (s *Server) restoreVersion(c *echo.Context) error {
	v, err := versionParam(c)
	if err != nil {
		return err
	}
	return conditionalDoc(c, s.svc.RestoreVersion, v)
}
