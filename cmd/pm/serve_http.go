package main

import (
	"log/slog"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

// corsOf is the api form of the cors section.
func corsOf(c config.CORS) api.CORS {
	return api.CORS{
		AllowedOrigins:   c.AllowedOrigins,
		AllowedHeaders:   c.AllowedHeaders,
		AllowCredentials: c.AllowCredentials,
		MaxAge:           c.MaxAge,
	}
}

// accessLogOf is the api form of the access_log section; nil when off.
func accessLogOf(c config.AccessLog, logger *slog.Logger) *api.AccessLog {
	if !c.Enabled {
		return nil
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	return &api.AccessLog{Logger: logger, Level: level, SampleEvery: c.SampleEvery}
}
