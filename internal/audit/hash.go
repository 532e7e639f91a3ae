package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
)

// hashDomain starts every hashed message. It names the encoding's version:
// a change to the field list or the layout must change it, so that entries
// of one layout are never checked against another.
const hashDomain = "permission-mongo/audit/v1\x00"

// Genesis is the PrevHash of the first entry of writer's chain. Deriving it
// from the writer id (instead of a constant) means a chain's first entry
// cannot be moved to another chain without its hash changing.
func Genesis(writer string) string {
	return domainHash("genesis", writer, sha256.Size)
}

// domainHash is the hex of the first n bytes of the SHA-256 of s under a
// prefix naming what the hash is for, so that a value derived for one use (a
// genesis, a tenant tag) can never pass for another.
func domainHash(use, s string, n int) string {
	sum := sha256.Sum256([]byte("permission-mongo/audit/" + use + "\x00" + s))
	return hex.EncodeToString(sum[:n])
}

// idSep separates the chain name from the seq in an entry id.
const idSep = "-"

// entryID is the ID of entry seq of writer. The zero padding makes the
// lexical order of ids the chain order, which is the order Verify walks.
func entryID(writer string, seq int64) string {
	s := strconv.FormatInt(seq, 10)
	const width = 12
	if len(s) < width {
		s = "000000000000"[:width-len(s)] + s
	}
	return writer + idSep + s
}

// HashOf computes the hash e must carry: hex SHA-256 over the canonical
// encoding of every field except Hash. It is exported so that an auditor's
// tool can check entries without this package's Verify.
//
// The encoding is a fixed field order, each field tagged by its position,
// strings and lists length-prefixed, numbers fixed-width big-endian, the
// time as Unix milliseconds. It does not depend on BSON or JSON, so the hash
// survives any storage or export that keeps the values; nil and empty lists
// encode alike because a round trip may turn one into the other.
func HashOf(e *Entry) string {
	var b encoder
	b.buf = make([]byte, 0, 512)
	b.buf = append(b.buf, hashDomain...)
	b.str(1, e.ID)
	b.i64(2, e.TS.UnixMilli())
	b.str(3, e.RequestID)
	b.str(4, e.Actor.ID)
	b.str(5, e.Actor.TenantID)
	b.list(6, e.Actor.Roles)
	b.str(7, e.Actor.Auth)
	b.str(8, e.Actor.KeyID)
	b.str(9, e.Action)
	b.str(10, e.Collection)
	b.list(11, e.DocIDs)
	b.i64(12, e.Count)
	b.i64(13, e.Failed)
	b.str(14, string(e.Outcome))
	b.i64(15, int64(e.Status))
	b.str(16, e.ErrorCode)
	b.list(17, e.ChangedFields)
	b.str(18, e.IP)
	b.str(19, e.UserAgent)
	b.i64(20, int64(math.Float64bits(e.LatencyMS)))
	b.str(21, e.Writer)
	b.i64(22, e.Seq)
	b.str(23, e.PrevHash)
	sum := sha256.Sum256(b.buf)
	return hex.EncodeToString(sum[:])
}

type encoder struct{ buf []byte }

func (b *encoder) tag(t byte) { b.buf = append(b.buf, t) }

func (b *encoder) str(t byte, s string) {
	b.tag(t)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
}

func (b *encoder) i64(t byte, v int64) {
	b.tag(t)
	b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(v))
}

func (b *encoder) list(t byte, l []string) {
	b.tag(t)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(l)))
	for _, s := range l {
		b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
		b.buf = append(b.buf, s...)
	}
}
