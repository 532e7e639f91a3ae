package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// errSpillFull is returned when the spill file would grow past its bound.
var errSpillFull = errors.New("audit spill file is full")

// spillFile is the local append-only NDJSON file of ModeBuffer: one Entry
// (already hashed and chained) per line, oldest first. It is used by the
// Writer's flush goroutine only, so it has no lock.
//
// Entries are appended and fsynced one batch at a time; they are read back
// from off, and the file is truncated when everything up to its end is in
// MongoDB. A crash can leave a torn last line: it is skipped (and counted)
// on replay, and Verify will show the gap it leaves in the chain.
type spillFile struct {
	f    *os.File
	size int64 // bytes in the file
	off  int64 // bytes already replayed
	max  int64
}

func openSpill(path string, max int64) (*spillFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: spill directory: %w", err)
	}
	// 0600: the file holds who did what; it is not for other local users.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open spill file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: spill file: %w", err)
	}
	return &spillFile{f: f, size: st.Size(), max: max}, nil
}

func (s *spillFile) pending() bool { return s.size > s.off }

func (s *spillFile) pendingBytes() int64 { return s.size - s.off }

// append writes entries (as queued: encoded, see encodeEntry) as lines of
// JSON and fsyncs: when it returns nil they survive a crash of the process or
// the machine. The file keeps the layout it had when the queue held Entry
// values, so a file left by an older version replays.
func (s *spillFile) append(entries []bson.Raw) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, doc := range entries {
		var e Entry
		if err := bson.Unmarshal(doc, &e); err != nil {
			return fmt.Errorf("audit: decode spilled entry: %w", err)
		}
		if err := enc.Encode(&e); err != nil { // Encode adds the '\n'
			return fmt.Errorf("audit: encode spilled entry: %w", err)
		}
	}
	if s.size+int64(buf.Len()) > s.max {
		return errSpillFull
	}
	n, err := s.f.Write(buf.Bytes())
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		// Cut a partial write off, so the next append starts a clean line.
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("audit: write spill file: %w", err)
	}
	s.size += int64(n)
	return nil
}

// read decodes up to n entries from off. next is the offset after them;
// corrupt counts lines that could not be decoded (skipped).
func (s *spillFile) read(n int) (batch []Entry, next int64, corrupt int, err error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.off, s.size-s.off), 64<<10)
	next = s.off
	for len(batch) < n {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return batch, next, corrupt, fmt.Errorf("audit: read spill file: %w", err)
		}
		next += int64(len(line))
		var e Entry
		if err == io.EOF || json.Unmarshal(line, &e) != nil || e.ID == "" {
			// A line without its newline is a write torn by a crash.
			corrupt++
			continue
		}
		batch = append(batch, e)
	}
	return batch, next, corrupt, nil
}

func (s *spillFile) advance(next int64) { s.off = next }

// reset empties the file once everything in it is stored.
func (s *spillFile) reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("audit: truncate spill file: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync spill file: %w", err)
	}
	s.size, s.off = 0, 0
	return nil
}

func (s *spillFile) close() error { return s.f.Close() }
