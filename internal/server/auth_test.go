package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"tracewatch"
)

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateMasterKey(dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %x, %v", k1, err)
	}
	if runtime.GOOS != "windows" {
		for path, want := range map[string]os.FileMode{MasterKeyPath(dir): 0o600, filepath.Dir(MasterKeyPath(dir)): 0o700} {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
			}
		}
	}
	b, _ := os.ReadFile(MasterKeyPath(dir))
	if string(bytes.TrimSpace(b)) != hex.EncodeToString(k1) {
		t.Errorf("file holds %q, want the key in hex", b)
	}
	k2, err := LoadOrCreateMasterKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("reload: %x, %v; want %x", k2, err, k1)
	}
	if entries, _ := os.ReadDir(filepath.Dir(MasterKeyPath(dir))); len(entries) != 1 {
		t.Errorf("left-over files in the key directory: %v", entries)
	}
	if k3, _ := LoadOrCreateMasterKey(t.TempDir()); bytes.Equal(k1, k3) {
		t.Error("two data directories got the same key")
	}

	if runtime.GOOS != "windows" {
		os.Chmod(MasterKeyPath(dir), 0o644)
		if _, err := LoadOrCreateMasterKey(dir); tracewatch.KindOf(err) != tracewatch.KindInvalid {
			t.Errorf("a world-readable key: %v, want refused", err)
		}
		os.Chmod(MasterKeyPath(dir), 0o600)
	}
	os.WriteFile(MasterKeyPath(dir), []byte("not hex\n"), 0o600)
	if _, err := LoadOrCreateMasterKey(dir); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("a corrupt key: %v, want refused", err)
	}
	os.WriteFile(MasterKeyPath(dir), []byte(hex.EncodeToString(k1[:16])), 0o600)
	if _, err := LoadOrCreateMasterKey(dir); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("a short key: %v, want refused", err)
	}
}

func TestCreateKey(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	c := h.keys[instP]
	if !regexp.MustCompile(`^tw[0-9a-f]{16}$`).MatchString(c.paasid) || !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(c.secret) {
		t.Errorf("paasid %q, secret %q", c.paasid, c.secret)
	}
	if c == h.keys[instQ] {
		t.Error("two keys are the same")
	}
	k, err := h.st.InstitutionKey(ctx, c.paasid)
	if err != nil || k.Institution != instP || k.Revoked || !k.Created.Equal(h.clock.Now()) {
		t.Fatalf("stored key: %+v, %v", k, err)
	}
	if bytes.Contains(k.SecretEnc, []byte(c.secret)) || len(k.SecretEnc) != 12+32+16 {
		t.Errorf("the stored secret is not sealed as nonce||ciphertext: %x", k.SecretEnc)
	}
	aead, _ := newAEAD(h.master)
	if s, err := openSecret(aead, c.paasid, k.SecretEnc); err != nil || s != c.secret {
		t.Errorf("open: %q, %v", s, err)
	}
	if _, err := openSecret(aead, h.keys[instQ].paasid, k.SecretEnc); err == nil {
		t.Error("a sealed secret opened under another paasid")
	}
	other, _ := newAEAD(bytes.Repeat([]byte{7}, 32))
	if _, err := openSecret(other, c.paasid, k.SecretEnc); tracewatch.KindOf(err) != tracewatch.KindInternal {
		t.Errorf("another master key: %v", err)
	}

	_, _, err = CreateKey(ctx, h.st, h.master, "P99999999999", h.clock.Now())
	if tracewatch.KindOf(err) != tracewatch.KindNotFound || !regexp.MustCompile(`P99999999999 is not in the store`).MatchString(err.Error()) {
		t.Errorf("unknown institution: %v", err)
	}
	if _, _, err := CreateKey(ctx, h.st, h.master, " ", h.clock.Now()); tracewatch.KindOf(err) != tracewatch.KindInvalid {
		t.Errorf("empty institution: %v", err)
	}
	if _, err := RevokeKey(ctx, h.st, "tw0000000000000000"); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("revoke an unknown key: %v", err)
	}
}

// TestSignRecipe pins the signature to the recipe of docs/api.md:
//
//	printf '%s%s%s%s' 1740794400 S3cret n0nce 1740794400 | sha256sum
func TestSignRecipe(t *testing.T) {
	const want = "e4a26bceb82b907f222652ee0e37c7c7b2f33169358624eacd08ac12ecebef79"
	if got := Sign("1740794400", "S3cret", "n0nce"); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// TestNonceMemory: a nonce is refused for exactly as long as its timestamp could still
// be accepted, and the cache is bounded.
func TestNonceMemory(t *testing.T) {
	h := newHarness(t, nil)
	a, err := NewAuthenticator(h.st, h.master, h.clock.Now, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := h.keys[instP]
	signed := func(ts time.Time, nonce string) http.Header {
		s := strconv.FormatInt(ts.Unix(), 10)
		hd := http.Header{}
		hd.Set(HeaderPaasID, c.paasid)
		hd.Set(HeaderTimestamp, s)
		hd.Set(HeaderNonce, nonce)
		hd.Set(HeaderSignature, Sign(s, c.secret, nonce))
		return hd
	}
	t0 := h.clock.Now()
	late := signed(t0.Add(ClockSkew), "n1") // as far in the future as is allowed
	if id, err := a.Verify(ctx, late); err != nil || id.Institution != instP || id.PaasID != c.paasid {
		t.Fatalf("first use: %+v, %v", id, err)
	}
	h.clock.Add(NonceMemory) // the timestamp is now exactly 5 minutes old: still acceptable
	if _, err := a.Verify(ctx, late); tracewatch.KindOf(err) != tracewatch.KindUnauthorized || !regexp.MustCompile(`nonce: already used`).MatchString(err.Error()) {
		t.Errorf("replay at the edge of the window: %v", err)
	}
	h.clock.Add(time.Second)
	if _, err := a.Verify(ctx, late); err == nil || !regexp.MustCompile(`timestamp: more than 5 minutes old`).MatchString(err.Error()) {
		t.Errorf("replay after the window: %v", err)
	}
	// The same nonce under another paasid is another nonce.
	now := h.clock.Now()
	q := h.keys[instQ]
	s := strconv.FormatInt(now.Unix(), 10)
	hq := http.Header{}
	hq.Set(HeaderPaasID, q.paasid)
	hq.Set(HeaderTimestamp, s)
	hq.Set(HeaderNonce, "n1")
	hq.Set(HeaderSignature, Sign(s, q.secret, "n1"))
	if _, err := a.Verify(ctx, hq); err != nil {
		t.Errorf("n1 of another paasid: %v", err)
	}
	if n := a.nonces(); n != 1 {
		t.Errorf("%d live nonces, want 1 (the first expired)", n)
	}
	// Bounded: two live entries fill it; a third request is refused as busy, not let
	// through unchecked.
	if _, err := a.Verify(ctx, signed(now, "n2")); err != nil {
		t.Fatal(err)
	}
	_, err = a.Verify(ctx, signed(now, "n3"))
	if !errors.Is(err, errBusy) || statusOf(err) != http.StatusServiceUnavailable {
		t.Errorf("full cache: %v", err)
	}
	h.clock.Add(NonceMemory + time.Second)
	if _, err := a.Verify(ctx, signed(h.clock.Now(), "n3")); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}
