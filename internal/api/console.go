package api

import (
	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/console"
)

// The console's static files need no credential (they hold no data; the
// pages call the API with the user's key like any client) and are not
// audited: loading a page touches no data, and an entry per asset fetch
// would bury the entries of the API calls the page then makes.
func init() {
	unauditedRoutes[console.Prefix] = true
	unauditedRoutes[console.Prefix+"/*"] = true
}

func consoleRoutes(e *echo.Echo) {
	h := echo.WrapHandler(console.Handler())
	e.GET(console.Prefix, h)
	e.GET(console.Prefix+"/*", h)
	e.HEAD(console.Prefix, h)
	e.HEAD(console.Prefix+"/*", h)
}
