package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"tracewatch"
	"tracewatch/internal/token"
)

// The signed-request headers of the national gateway style.
const (
	HeaderPaasID    = "x-tif-paasid"
	HeaderTimestamp = "x-tif-timestamp"
	HeaderNonce     = "x-tif-nonce"
	HeaderSignature = "x-tif-signature"
)

// The request window: a timestamp may be this far in the past or the future, and a nonce
// is remembered this long. A request is acceptable only while its timestamp is within
// ClockSkew of the server's clock, and it was first seen no earlier than ClockSkew before
// its timestamp, so a nonce kept for 2×ClockSkew from its first use covers every replay
// the timestamp check lets through.
const (
	ClockSkew   = 5 * time.Minute
	NonceMemory = 2 * ClockSkew
)

// DefaultMaxNonces bounds the nonce cache: about 1,700 signed requests a second sustained
// over NonceMemory. Each entry costs some 50 bytes.
const DefaultMaxNonces = 1 << 20

const (
	masterKeyDir  = "keys"
	masterKeyFile = "master.key"
	masterKeyLen  = 32 // AES-256
	secretLen     = 32
	maxNonceLen   = 128
)

// MasterKeyPath is where the master key of a data directory lives.
func MasterKeyPath(dataDir string) string {
	return filepath.Join(dataDir, masterKeyDir, masterKeyFile)
}

// LoadOrCreateMasterKey returns the master key that encrypts institution secrets at rest:
// 32 bytes kept hex-encoded in <dataDir>/keys/master.key (file mode 0600, directory
// 0700). The first call creates it from crypto/rand; the file is written completely
// before it appears, so a crash never leaves a half-written key. A key file readable by
// group or others is refused (as ssh does), except on Windows.
func LoadOrCreateMasterKey(dataDir string) ([]byte, error) {
	const op = "server.LoadOrCreateMasterKey"
	dir := filepath.Join(dataDir, masterKeyDir)
	path := filepath.Join(dir, masterKeyFile)
	if k, err := readMasterKey(path); !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	key := make([]byte, masterKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	tmp, err := os.CreateTemp(dir, ".master-*.tmp") // mode 0600
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	// Link fails when another process created the key first: then that one is the key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readMasterKey(path)
		}
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: make the new name durable
		d.Close()
	}
	return key, nil
}

func readMasterKey(path string) ([]byte, error) {
	const op = "server.LoadOrCreateMasterKey"
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s is accessible by group or others (mode %v): run chmod 600 on it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != masterKeyLen {
		return nil, tracewatch.Errorf(op, tracewatch.KindInvalid, "%s: want %d bytes in hex", path, masterKeyLen)
	}
	return key, nil
}

// newAEAD returns AES-256-GCM under the master key.
func newAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != masterKeyLen {
		return nil, tracewatch.Errorf("server.newAEAD", tracewatch.KindInvalid, "master key: want %d bytes, got %d", masterKeyLen, len(master))
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, tracewatch.E("server.newAEAD", tracewatch.KindInternal, err)
	}
	return cipher.NewGCM(block)
}

// secretAD binds a sealed secret to its paasid: a ciphertext copied onto another key's
// row does not open.
func secretAD(paasid string) []byte { return []byte("tracewatch institution key " + paasid) }

// sealSecret encrypts secret: nonce || ciphertext (with the GCM tag).
func sealSecret(aead cipher.AEAD, paasid, secret string) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, tracewatch.E("server.sealSecret", tracewatch.KindInternal, err)
	}
	return aead.Seal(nonce, nonce, []byte(secret), secretAD(paasid)), nil
}

// openSecret decrypts what sealSecret produced.
func openSecret(aead cipher.AEAD, paasid string, enc []byte) (string, error) {
	const op = "server.openSecret"
	if len(enc) < aead.NonceSize()+aead.Overhead() {
		return "", tracewatch.Errorf(op, tracewatch.KindInternal, "sealed secret of %s is too short", paasid)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, enc[:n], enc[n:], secretAD(paasid))
	if err != nil {
		return "", tracewatch.Errorf(op, tracewatch.KindInternal, "cannot decrypt the secret of %s: is this the data directory's master key?", paasid)
	}
	return string(plain), nil
}

// CreateKey issues a credential to an institution: paasid "tw" + 16 hex digits and a
// secret of 32 letters and digits, stored sealed under master (AES-256-GCM). The secret
// is returned once and cannot be recovered from the store without the master key. The
// institution must be in the store (KindNotFound otherwise).
func CreateKey(ctx context.Context, st tracewatch.Store, master []byte, institution string, now time.Time) (paasid, secret string, err error) {
	const op = "server.CreateKey"
	aead, err := newAEAD(master)
	if err != nil {
		return "", "", err
	}
	institution = strings.TrimSpace(institution)
	if institution == "" {
		return "", "", tracewatch.Errorf(op, tracewatch.KindInvalid, "an institution code (fixmedins_code) is required")
	}
	if _, err := st.Institution(ctx, institution); err != nil {
		if tracewatch.KindOf(err) == tracewatch.KindNotFound {
			return "", "", tracewatch.Errorf(op, tracewatch.KindNotFound, "institution %s is not in the store: load the institutions first", institution)
		}
		return "", "", err
	}
	for {
		var id [8]byte
		if _, err := rand.Read(id[:]); err != nil {
			return "", "", tracewatch.E(op, tracewatch.KindInternal, err)
		}
		paasid = "tw" + hex.EncodeToString(id[:])
		// Storing upserts by paasid: never overwrite another key (2^-64, but cheap).
		_, err := st.InstitutionKey(ctx, paasid)
		if tracewatch.KindOf(err) == tracewatch.KindNotFound {
			break
		}
		if err != nil {
			return "", "", err
		}
	}
	if secret, err = token.RandomAlnum(secretLen); err != nil {
		return "", "", tracewatch.E(op, tracewatch.KindInternal, err)
	}
	enc, err := sealSecret(aead, paasid, secret)
	if err != nil {
		return "", "", err
	}
	k := tracewatch.InstitutionKey{PaasID: paasid, Institution: institution, SecretEnc: enc, Created: now}
	if err := st.PutInstitutionKey(ctx, k); err != nil {
		return "", "", err
	}
	return paasid, secret, nil
}

// RevokeKey revokes a credential: requests signed with it are refused from then on.
func RevokeKey(ctx context.Context, st tracewatch.Store, paasid string) (tracewatch.InstitutionKey, error) {
	k, err := st.InstitutionKey(ctx, paasid)
	if err != nil {
		if tracewatch.KindOf(err) == tracewatch.KindNotFound {
			return k, tracewatch.Errorf("server.RevokeKey", tracewatch.KindNotFound, "no key %s", paasid)
		}
		return k, err
	}
	k.Revoked = true
	return k, st.PutInstitutionKey(ctx, k)
}

// Sign returns the x-tif-signature of a request: lowercase hex SHA-256 of
// timestamp + secret + nonce + timestamp.
func Sign(timestamp, secret, nonce string) string {
	sum := sha256.Sum256([]byte(timestamp + secret + nonce + timestamp))
	return hex.EncodeToString(sum[:])
}

// KeyReader reads institution keys; tracewatch.Store satisfies it.
type KeyReader interface {
	InstitutionKey(ctx context.Context, paasid string) (tracewatch.InstitutionKey, error)
}

// Identity is who signed a request.
type Identity struct {
	PaasID      string
	Institution string // fixmedins_code
}

// errBusy is returned when the nonce cache is full of live entries: the request is
// refused (HTTP 503) rather than accepted without a replay check.
var errBusy = errors.New("too many signed requests in the last 10 minutes: retry later")

// Authenticator verifies signed requests. The nonce cache lives in memory only: a
// restart forgets it, which is acceptable because the timestamp window still bounds a
// replay to 5 minutes and a replayed msgid changes nothing (it gets its first answer).
type Authenticator struct {
	keys KeyReader
	aead cipher.AEAD
	now  func() time.Time
	max  int

	kmu   sync.Mutex
	cache map[string]cachedKey // paasid → key and secret, for KeyCacheTTL

	mu     sync.Mutex
	seen   map[[16]byte]time.Time // hash(paasid, nonce) → expiry
	queue  []nonceEntry           // in insertion order, for expiry
	head   int
	expiry time.Duration
}

// KeyCacheTTL is how long a verified credential is kept in memory before the store is
// asked again (a key revoked meanwhile is refused at the latest this long after).
const KeyCacheTTL = 30 * time.Second

type cachedKey struct {
	key    tracewatch.InstitutionKey
	secret string
	until  time.Time
}

// Forget drops a credential from the cache (after a revocation through this process).
func (a *Authenticator) Forget(paasid string) {
	a.kmu.Lock()
	delete(a.cache, paasid)
	a.kmu.Unlock()
}

// key returns a credential and its secret, from the cache or the store.
func (a *Authenticator) key(ctx context.Context, paasid string, now time.Time) (tracewatch.InstitutionKey, string, error) {
	a.kmu.Lock()
	c, ok := a.cache[paasid]
	a.kmu.Unlock()
	if ok && now.Before(c.until) {
		return c.key, c.secret, nil
	}
	k, err := a.keys.InstitutionKey(ctx, paasid)
	if err != nil || k.Revoked {
		return k, "", err
	}
	secret, err := openSecret(a.aead, k.PaasID, k.SecretEnc)
	if err != nil {
		return k, "", err
	}
	a.kmu.Lock()
	if len(a.cache) >= 100_000 {
		clear(a.cache)
	}
	a.cache[paasid] = cachedKey{key: k, secret: secret, until: now.Add(KeyCacheTTL)}
	a.kmu.Unlock()
	return k, secret, nil
}

type nonceEntry struct {
	key    [16]byte
	expiry time.Time
}

// NewAuthenticator verifies requests against keys sealed under master. now is the clock;
// maxNonces bounds the nonce cache (DefaultMaxNonces when 0).
func NewAuthenticator(keys KeyReader, master []byte, now func() time.Time, maxNonces int) (*Authenticator, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if maxNonces <= 0 {
		maxNonces = DefaultMaxNonces
	}
	return &Authenticator{keys: keys, aead: aead, now: now, max: maxNonces, seen: map[[16]byte]time.Time{}, expiry: NonceMemory,
		cache: map[string]cachedKey{}}, nil
}

// Verify checks the signed-request headers and returns the signer. Refusals are
// KindUnauthorized errors naming the header at fault; a store failure or a secret that
// does not decrypt is KindInternal.
func (a *Authenticator) Verify(ctx context.Context, h http.Header) (Identity, error) {
	const op = "server.Verify"
	refuse := func(header, format string, args ...any) (Identity, error) {
		return Identity{}, tracewatch.Errorf(op, tracewatch.KindUnauthorized, format, args...).WithField(header)
	}
	var missing []string
	vals := map[string]string{}
	for _, name := range []string{HeaderPaasID, HeaderTimestamp, HeaderNonce, HeaderSignature} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			missing = append(missing, name)
		}
		vals[name] = v
	}
	if len(missing) > 0 {
		return Identity{}, tracewatch.Errorf(op, tracewatch.KindUnauthorized, "missing header %s", strings.Join(missing, ", "))
	}
	paasid, ts, nonce, sig := vals[HeaderPaasID], vals[HeaderTimestamp], vals[HeaderNonce], vals[HeaderSignature]
	if len(nonce) > maxNonceLen {
		return refuse(HeaderNonce, "longer than %d characters", maxNonceLen)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs < 0 || len(ts) > 11 {
		return refuse(HeaderTimestamp, "want unix time in seconds")
	}
	now := a.now()
	switch t := time.Unix(secs, 0); {
	case now.Sub(t) > ClockSkew:
		return refuse(HeaderTimestamp, "more than 5 minutes old: check the clock")
	case t.Sub(now) > ClockSkew:
		return refuse(HeaderTimestamp, "more than 5 minutes in the future: check the clock")
	}
	k, secret, err := a.key(ctx, paasid, now)
	switch {
	case tracewatch.KindOf(err) == tracewatch.KindNotFound, err == nil && k.Revoked:
		return refuse(HeaderPaasID, "unknown or revoked paasid")
	case err != nil:
		return Identity{}, err
	}
	want := sha256.Sum256([]byte(ts + secret + nonce + ts))
	got, err := hex.DecodeString(sig)
	if err != nil || subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return refuse(HeaderSignature, "signature does not match: want hex SHA-256 of timestamp+secret+nonce+timestamp")
	}
	if err := a.remember(paasid, nonce, now); err != nil {
		if err == errBusy {
			return Identity{}, err
		}
		return refuse(HeaderNonce, "already used within the last 10 minutes")
	}
	return Identity{PaasID: k.PaasID, Institution: k.Institution}, nil
}

var errNonceUsed = errors.New("nonce used")

// remember records a (paasid, nonce) pair, refusing one already seen and unexpired.
func (a *Authenticator) remember(paasid, nonce string, now time.Time) error {
	var key [16]byte
	sum := sha256.Sum256([]byte(paasid + "\x00" + nonce))
	copy(key[:], sum[:])
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	if exp, ok := a.seen[key]; ok && !now.After(exp) {
		return errNonceUsed
	}
	if len(a.seen) >= a.max {
		return errBusy
	}
	exp := now.Add(a.expiry)
	a.seen[key] = exp
	a.queue = append(a.queue, nonceEntry{key, exp})
	return nil
}

// expire drops the entries whose time is over. An entry lives until its expiry
// inclusive: a request first seen at f with a timestamp of f+5m is still acceptable at
// f+10m exactly. Entries are queued in insertion order; with a clock that steps back an
// entry may outlive its time a little, never less.
func (a *Authenticator) expire(now time.Time) {
	for a.head < len(a.queue) && now.After(a.queue[a.head].expiry) {
		e := a.queue[a.head]
		if exp, ok := a.seen[e.key]; ok && exp.Equal(e.expiry) {
			delete(a.seen, e.key)
		}
		a.queue[a.head] = nonceEntry{}
		a.head++
	}
	if a.head > 1024 && a.head > len(a.queue)/2 {
		a.queue = append(a.queue[:0:0], a.queue[a.head:]...)
		a.head = 0
	}
}

// nonces returns the number of live entries (for tests).
func (a *Authenticator) nonces() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}
