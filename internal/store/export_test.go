package store

// Internals the external tests of this package look at.
var (
	AppendWriteConcern = appendWriteConcern
	RetryableInsert    = retryableInsert
)

// WriteConcernOf is the write concern InsertRaw names for c's commands.
func WriteConcernOf(c *Client) any { return writeConcernOf(c.c) }

// DirOf is the directory of e's SQLite files.
func DirOf(e *Embedded) string { return e.dir }
