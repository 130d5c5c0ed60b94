// Package token keeps the accounts of the operator API and the workplace: users (with
// Argon2id password hashes) and bearer tokens, in one file of the data directory
// (keys/tokens.json) that `tracewatch user …` and `tracewatch token …` edit and
// `tracewatch serve` re-reads when it changes, so a revocation or a disabled user takes
// effect while the server runs (DuckDB lets one process at a time open the store, so
// accounts cannot live there).
//
// A token is "twt_" and 32 letters and digits (about 190 bits). Only its SHA-256 is
// stored; it is shown once, when it is created. A user's token acts as the user; a
// service token (token create) has a role of its own, admin or viewer, over every
// region. docs/api.md describes the roles.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"tracewatch"
)

// Role is what a token may do.
type Role string

// The roles. A viewer reads (GET); an admin also writes (resubmit) and sees personal
// data unmasked.
const (
	RoleViewer Role = "viewer"
	RoleAdmin  Role = "admin"
)

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.TrimSpace(s)); r {
	case RoleViewer, RoleAdmin:
		return r, nil
	}
	return "", tracewatch.Errorf("token.ParseRole", tracewatch.KindInvalid, "unknown role %q: want admin or viewer", s).WithField("role")
}

// Allows reports whether a token of role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	return r == RoleAdmin || (r == RoleViewer && need == RoleViewer)
}

// Entry is one token as stored: never the token itself.
type Entry struct {
	Name      string    `json:"name"`
	User      string    `json:"user,omitempty"` // the user it acts as; "": a service token with Role
	Role      Role      `json:"role,omitempty"`
	Hash      string    `json:"sha256"` // lowercase hex SHA-256 of the token
	Created   time.Time `json:"created"`
	Revoked   bool      `json:"revoked"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// file is the JSON document of keys/tokens.json.
type file struct {
	Version int          `json:"version"`
	Tokens  []Entry      `json:"tokens"`
	Users   []UserRecord `json:"users,omitempty"`
}

const (
	dirName  = "keys"
	fileName = "tokens.json"
	lockName = "tokens.lock"
	prefix   = "twt_"
	randLen  = 32
	maxToken = 128 // a longer Authorization value is not a token of ours
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Path is where the tokens of a data directory live.
func Path(dataDir string) string { return filepath.Join(dataDir, dirName, fileName) }

// Create issues a token named name with role and returns it: the only time it is shown.
// A name already used by a token that is not revoked is refused (KindConflict).
func Create(dataDir, name string, role Role, now time.Time) (string, error) {
	const op = "token.Create"
	if !nameRE.MatchString(name) {
		return "", tracewatch.Errorf(op, tracewatch.KindInvalid, "want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit").WithField("name")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	var tok string
	err := update(dataDir, func(f *file) error {
		for _, e := range f.Tokens {
			if e.Name == name && !e.Revoked {
				return tracewatch.Errorf(op, tracewatch.KindConflict, "a token named %s exists: revoke it first or choose another name", name).WithField("name")
			}
		}
		for _, u := range f.Users {
			if u.Name == name {
				return tracewatch.Errorf(op, tracewatch.KindConflict, "a user named %s exists: a service token needs another name (or use tracewatch user token %s)", name, name).WithField("name")
			}
		}
		r, err := RandomAlnum(randLen)
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		tok = prefix + r
		f.Tokens = append(f.Tokens, Entry{Name: name, Role: role, Hash: hashHex(tok), Created: now.UTC()})
		return nil
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// Revoke revokes the token named name: it is refused from then on (by a running server
// within about a second). KindNotFound when no token has that name, KindConflict when it
// is already revoked.
func Revoke(dataDir, name string, now time.Time) (Entry, error) {
	const op = "token.Revoke"
	var out Entry
	err := update(dataDir, func(f *file) error {
		known := false
		for i := range f.Tokens {
			e := &f.Tokens[i]
			if e.Name != name {
				continue
			}
			known = true
			if !e.Revoked {
				e.Revoked, e.RevokedAt = true, now.UTC()
				out = *e
				return nil
			}
		}
		if known {
			return tracewatch.Errorf(op, tracewatch.KindConflict, "the token named %s is already revoked", name)
		}
		return tracewatch.Errorf(op, tracewatch.KindNotFound, "no token named %s", name)
	})
	return out, err
}

// List returns every token entry, revoked ones included, in creation order.
func List(dataDir string) ([]Entry, error) {
	f, err := read(Path(dataDir))
	return f.Tokens, err
}

// update applies change to the tokens file under an exclusive lock and writes the result
// atomically (a temporary file renamed over the old one, mode 0600).
func update(dataDir string, change func(*file) error) error {
	const op = "token.update"
	dir := filepath.Join(dataDir, dirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	unlock, err := lock(filepath.Join(dir, lockName))
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer unlock()
	path := filepath.Join(dir, fileName)
	f, err := read(path)
	if err != nil {
		return err
	}
	if err := change(&f); err != nil {
		return err
	}
	f.Version = 1
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	tmp, err := os.CreateTemp(dir, ".tokens-*.tmp") // mode 0600
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: make the new name durable
		d.Close()
	}
	return nil
}

// read reads the tokens file; a missing file holds no tokens.
func read(path string) (file, error) {
	const op = "token.read"
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return file{Version: 1}, nil
	}
	if err != nil {
		return file{}, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return file{}, tracewatch.Errorf(op, tracewatch.KindInternal, "%s is not a tokens file: %v", path, err)
	}
	for _, e := range f.Tokens {
		if _, err := hex.DecodeString(e.Hash); err != nil || len(e.Hash) != 2*sha256.Size {
			return file{}, tracewatch.Errorf(op, tracewatch.KindInternal, "%s: token %q has no valid sha256", path, e.Name)
		}
	}
	return f, nil
}

func hashHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// RandomAlnum returns n characters from [A-Za-z0-9] drawn uniformly from crypto/rand
// (rejection sampling): operator tokens here, institution secrets in the server.
func RandomAlnum(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4×62: keeps the draw uniform
				out = append(out, alnum[b%62])
			}
		}
	}
	return string(out), nil
}

// RefreshInterval is how often a Set looks at the tokens file for changes.
const RefreshInterval = time.Second

// Set answers which token a request carries. It re-reads the tokens file when the file
// changed (another name, size or modification time), looking at most once per
// RefreshInterval: a token created or revoked by `tracewatch token` while the server
// runs counts within about a second.
type Set struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	loaded  bool
	checked time.Time   // when the file was last looked at
	stat    fs.FileInfo // as it was then (nil: missing)
	f       file
	hashes  [][]byte // of f.Tokens, decoded
	err     error    // the file could not be read: every token is refused
}

// Open returns the Set of a data directory's tokens (none when the file is missing).
// now is the clock that paces the re-reading (time.Now when nil).
func Open(dataDir string, now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	return &Set{path: Path(dataDir), now: now}
}

// ErrUnknown is the refusal of a token that is missing, unknown or revoked.
var ErrUnknown = errors.New("unknown or revoked token")

// Authenticate returns the entry of a token. A token that is not in the file, or
// revoked, is ErrUnknown (wrapped in a KindUnauthorized error); an unreadable tokens
// file is a KindInternal error (every token is refused until it is fixed).
func (s *Set) Authenticate(tok string) (Entry, error) {
	const op = "token.Authenticate"
	f, hashes, err := s.current()
	if err != nil {
		return Entry{}, err
	}
	entries := f.Tokens
	if !strings.HasPrefix(tok, prefix) || len(tok) > maxToken {
		return Entry{}, tracewatch.E(op, tracewatch.KindUnauthorized, ErrUnknown)
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i, h := range hashes { // no early exit: the time does not tell which entry matched
		if subtle.ConstantTimeCompare(sum[:], h) == 1 && !entries[i].Revoked {
			found = i
		}
	}
	if found < 0 {
		return Entry{}, tracewatch.E(op, tracewatch.KindUnauthorized, ErrUnknown)
	}
	return entries[found], nil
}

// file returns the accounts file as last read.
func (s *Set) file() (file, error) {
	f, _, err := s.current()
	return f, err
}

// current returns the file and its tokens' hashes, re-reading the file when it changed.
func (s *Set) current() (file, [][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if since := now.Sub(s.checked); s.loaded && since >= 0 && since < RefreshInterval {
		return s.f, s.hashes, s.err
	}
	s.checked = now
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = nil, nil
	}
	if err != nil {
		s.err = tracewatch.E("token.Set", tracewatch.KindInternal, err)
		return file{}, nil, s.err
	}
	if s.loaded && s.err == nil && sameFile(s.stat, fi) {
		return s.f, s.hashes, nil
	}
	s.loaded = true
	f, err := read(s.path)
	if err != nil {
		s.stat, s.f, s.hashes, s.err = nil, file{}, nil, err
		return file{}, nil, err
	}
	hashes := make([][]byte, len(f.Tokens))
	for i, e := range f.Tokens {
		hashes[i], _ = hex.DecodeString(e.Hash) // checked by read
	}
	s.stat, s.f, s.hashes, s.err = fi, f, hashes, nil
	return s.f, s.hashes, nil
}

// sameFile reports whether two looks at the tokens file saw the same version of it.
func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
