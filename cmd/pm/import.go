package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pmsdk "github.com/permission-mongo/permission-mongo/sdk/go"
)

func init() {
	commands["import"] = command{
		summary: "stream a NDJSON, CSV or JSON-array file into a collection through the proxy",
		run:     runImport,
	}
}

// errUploadEnded closes the upload pipe once the server has answered.
var errUploadEnded = errors.New("upload ended")

// uploadCut marks an error of writing to the upload, as opposed to an error
// in the file: the HTTP client may close the pipe itself (io.ErrClosedPipe)
// before runImport closes it with errUploadEnded, so the cause alone cannot
// tell them apart.
type uploadCut struct{ err error }

func (u *uploadCut) Error() string { return "upload ended: " + u.err.Error() }
func (u *uploadCut) Unwrap() error { return u.err }

type uploadWriter struct{ w io.Writer }

func (u uploadWriter) Write(p []byte) (int, error) {
	n, err := u.w.Write(p)
	if err != nil {
		err = &uploadCut{err}
	}
	return n, err
}

// importShownFailures is how many failed lines the summary prints.
const importShownFailures = 10

// runImport implements `pm import --collection C --file F`.
//
// The file is converted to NDJSON on the fly and streamed through the Go SDK
// (Client.Import, POST /collections/{c}/import) from an io.Pipe: neither the file nor the
// converted body is ever held whole in memory. Exit 1 when any line failed,
// the server refused or stopped the import, or the file could not be
// converted to the end (the lines before the bad one are still imported and
// reported).
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm import", "--collection C --file F [--format ndjson|csv|json] [--url URL] [--api-key KEY]", stderr)
	coll := fs.String("collection", "", "collection to import into (required)")
	file := fs.String("file", "", "file to import (required)")
	format := fs.String("format", "", "ndjson, csv or json (an array of documents); default from the file extension, else ndjson")
	sf := addServerFlags(fs, "create on the collection")
	if code, stop := parseNoArgs(fs, args); stop {
		return code
	}
	if *coll == "" || *file == "" {
		fmt.Fprintln(stderr, "pm import: --collection and --file are required")
		fs.Usage()
		return exitUsage
	}
	if *format == "" {
		*format = formatOf(*file)
	}
	conv, ok := converters[*format]
	if !ok {
		fmt.Fprintf(stderr, "pm import: unknown format %q (ndjson, csv or json)\n", *format)
		return exitUsage
	}
	// The SDK builds the request; a URL it could not use is a usage error
	// here, before the file is opened.
	base, key, ok := sf.target(stderr, "pm import")
	if !ok {
		return exitUsage
	}

	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintf(stderr, "pm import: %v\n", err)
		return exitFail
	}
	defer func() { _ = f.Close() }()
	var total int64
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		total = st.Size()
	}
	src := &progressReader{r: f}

	// The converter writes NDJSON into the pipe while the HTTP client sends
	// what it reads from the other end. A conversion error ends the body
	// cleanly after the last good line, so that the server imports and
	// reports everything before it.
	pr, pw := io.Pipe()
	var convErr error
	convDone := make(chan struct{})
	go func() {
		defer close(convDone)
		bw := bufio.NewWriterSize(uploadWriter{pw}, 64<<10)
		convErr = conv(src, bw)
		if err := bw.Flush(); err != nil && convErr == nil {
			convErr = err
		}
		_ = pw.Close()
	}()

	stopBar := startProgress(stderr, src, total)
	// The SDK's default client gives up after a minute; an import of a big
	// file takes as long as it takes. A refused import (403, 401) is
	// answered before the body is sent, thanks to Expect: 100-continue.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = 5 * time.Second
	client := pmsdk.New(base, key,
		pmsdk.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: noRedirect}),
		pmsdk.WithRetry(pmsdk.RetryPolicy{})) // a stream is sent once anyway
	ctx := pmsdk.WithRequestHeader(context.Background(), "Expect", "100-continue")
	res, err := client.Import(ctx, *coll, pr, pmsdk.ImportOptions{})
	// Whatever happened, the converter must not stay blocked on the pipe.
	pr.CloseWithError(errUploadEnded)
	<-convDone
	stopBar()
	code := printImportResult(stdout, stderr, res, err, *coll, *format)
	// A converter whose write to the upload failed was cut off because the
	// server answered (a refusal such as 403 comes before the body is read)
	// or the connection ended: the file itself is fine, and the server's
	// answer or the HTTP error above says what happened.
	var cut *uploadCut
	if convErr != nil && !errors.As(convErr, &cut) {
		fmt.Fprintf(stderr, "pm import: the file could not be converted to the end; the lines before the error were imported: %v\n", convErr)
		code = exitFail
	}
	return code
}

// noRedirect: the API never redirects, and following one would send the
// key elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// formatOf guesses the format from the file extension.
func formatOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv"
	case ".json":
		return "json"
	}
	return "ndjson"
}

// where names a failed line in the terms of the input file: the server
// numbers NDJSON lines, which are CSV records (header excluded) and array
// elements once converted.
func where(format string, line int64) string {
	switch format {
	case "csv":
		return fmt.Sprintf("record %d", line)
	case "json":
		return fmt.Sprintf("element [%d]", line-1)
	}
	return fmt.Sprintf("line %d", line)
}

// printImportResult prints the summary of an import (the first failed
// lines, the count of the others) or why it failed, and returns the exit
// code.
func printImportResult(stdout, stderr io.Writer, d *pmsdk.ImportResult, err error, coll, format string) int {
	var apiErr *pmsdk.Error
	switch {
	case errors.As(err, &apiErr):
		fmt.Fprintf(stderr, "pm import: %d %s: %s\n", apiErr.Status, apiErr.Code, apiErr.Message)
		if n, ok := apiErr.Details["inserted"]; ok {
			fmt.Fprintf(stderr, "pm import: the import stopped; %v documents were inserted before it did (import %v)\n", n, apiErr.Details["import_id"])
		}
		return exitFail
	case err != nil:
		fmt.Fprintf(stderr, "pm import: %v\n", err)
		return exitFail
	case d == nil || d.ImportID == "":
		fmt.Fprintln(stderr, "pm import: the server's answer has no import result")
		return exitFail
	}
	fmt.Fprintf(stdout, "import %s into %s: %d inserted, %d failed\n", d.ImportID, coll, d.Inserted, d.FailedCount)
	for i, f := range d.Failed {
		if i == importShownFailures {
			break
		}
		fmt.Fprintf(stdout, "  %s: %s %s\n", where(format, f.Line), f.Error.Code, f.Error.Message)
	}
	if more := d.FailedCount - int64(min(len(d.Failed), importShownFailures)); more > 0 {
		fmt.Fprintf(stdout, "  ... and %d more\n", more)
	}
	if d.FailedCount > 0 {
		return exitFail
	}
	return exitOK
}

// progressReader counts the bytes read from the file.
type progressReader struct {
	r io.Reader
	n atomic.Int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// isTerminal reports whether w is a character device (a terminal), without
// a dependency: a progress bar is only drawn there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startProgress draws bytes sent / total on w every 200 ms when w is a
// terminal; the returned function draws the last state and stops.
func startProgress(w io.Writer, p *progressReader, total int64) func() {
	if !isTerminal(w) {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			drawProgress(w, p.n.Load(), total)
			select {
			case <-stop:
				drawProgress(w, p.n.Load(), total)
				fmt.Fprintln(w)
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
	}
}

func drawProgress(w io.Writer, done, total int64) {
	const width = 30
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	if total <= 0 {
		fmt.Fprintf(w, "\r%.1f MiB sent", mib(done))
		return
	}
	frac := min(float64(done)/float64(total), 1)
	filled := int(frac * width)
	fmt.Fprintf(w, "\r[%s%s] %3.0f%% %.1f/%.1f MiB", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		frac*100, mib(done), mib(total))
}

// converters turn an input file into NDJSON, streaming.
var converters = map[string]func(r io.Reader, w io.Writer) error{
	"ndjson": func(r io.Reader, w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	},
	"csv":  csvToNDJSON,
	"json": jsonArrayToNDJSON,
}

// jsonNumber is the JSON number grammar (RFC 8259): a CSV value that
// matches it is sent as a number. "007" does not match and stays a string.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// csvValue renders one CSV value as JSON: numbers and booleans as such,
// anything else as a string.
func csvValue(buf *bytes.Buffer, v string) {
	if v == "true" || v == "false" || jsonNumber.MatchString(v) {
		buf.WriteString(v)
		return
	}
	b, _ := json.Marshal(v) // a string always encodes
	buf.Write(b)
}

// csvToNDJSON converts CSV with a header row: each record becomes one
// document whose keys are the header's names, in order.
func csvToNDJSON(r io.Reader, w io.Writer) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("csv header: %w", err)
	}
	names := make([][]byte, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // byte order mark
		}
		if h == "" || seen[h] {
			return fmt.Errorf("csv header: column %d: empty or repeated name %q", i+1, h)
		}
		seen[h] = true
		names[i], _ = json.Marshal(h)
	}
	var buf bytes.Buffer
	for rec := 1; ; rec++ {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("csv record %d: %w", rec, err)
		}
		buf.Reset()
		buf.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(names[i])
			buf.WriteByte(':')
			csvValue(&buf, v)
		}
		buf.WriteString("}\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
}

// jsonArrayToNDJSON converts a JSON array of documents with the decoder's
// token API: one element is in memory at a time. Elements are passed on
// compacted (Extended JSON such as {"$oid": ...} unchanged); an element
// that is not a document is reported by the server for its line.
func jsonArrayToNDJSON(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("json: the file must hold an array of documents")
	}
	var raw json.RawMessage
	var buf bytes.Buffer
	for i := 0; dec.More(); i++ {
		raw = raw[:0]
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("json: element [%d]: %w", i, err)
		}
		buf.Reset()
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("json: element [%d]: %w", i, err)
		}
		buf.WriteByte('\n')
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("json: content after the array")
	}
	return nil
}
