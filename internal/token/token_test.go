package token

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tracewatch"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestCreateRevokeAuthenticate is the life of a token: created (shown once, stored
// hashed), accepted with its role, revoked, refused within a refresh interval; a new
// token may then take the name again.
func TestCreateRevokeAuthenticate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: now}
	set := Open(dir, clk.Now)
	if _, err := set.Authenticate("twt_nothing"); !errors.Is(err, ErrUnknown) || tracewatch.KindOf(err) != tracewatch.KindUnauthorized {
		t.Fatalf("no tokens file: %v", err)
	}
	admin, err := Create(dir, "alice", RoleAdmin, now)
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := Create(dir, "bob", RoleViewer, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(admin, "twt_") || len(admin) != 36 || admin == viewer {
		t.Fatalf("tokens %q %q", admin, viewer)
	}
	raw, err := os.ReadFile(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), admin) || strings.Contains(string(raw), admin[4:]) || !strings.Contains(string(raw), hashHex(admin)) {
		t.Errorf("the file must hold the hash, never the token:\n%s", raw)
	}
	if fi, _ := os.Stat(Path(dir)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	clk.Add(RefreshInterval) // the set looked at the missing file: it may look again now
	for tok, want := range map[string]Role{admin: RoleAdmin, viewer: RoleViewer} {
		if e, err := set.Authenticate(tok); err != nil || e.Role != want {
			t.Errorf("%s: %+v, %v", want, e, err)
		}
	}
	for _, bad := range []string{"", "Bearer " + admin, admin + "x", strings.ToUpper(admin), "twt_", admin[:35]} {
		if _, err := set.Authenticate(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("%q: %v, want unknown", bad, err)
		}
	}

	if _, err := Create(dir, "alice", RoleViewer, now); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("a second alice: %v, want a conflict", err)
	}
	if _, err := Revoke(dir, "carol", now); tracewatch.KindOf(err) != tracewatch.KindNotFound || !strings.Contains(err.Error(), "no token named carol") {
		t.Errorf("revoke an unknown name: %v", err)
	}
	if e, err := Revoke(dir, "alice", now.Add(time.Hour)); err != nil || !e.Revoked || e.Name != "alice" {
		t.Fatalf("revoke: %+v, %v", e, err)
	}
	// Within the refresh interval the set may still hold the old file; after it, never.
	clk.Add(RefreshInterval)
	if _, err := set.Authenticate(admin); !errors.Is(err, ErrUnknown) {
		t.Errorf("revoked token accepted: %v", err)
	}
	if _, err := set.Authenticate(viewer); err != nil {
		t.Errorf("the other token: %v", err)
	}
	if _, err := Revoke(dir, "alice", now); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("revoke twice: %v", err)
	}
	again, err := Create(dir, "alice", RoleViewer, now)
	if err != nil {
		t.Fatalf("reuse a revoked name: %v", err)
	}
	clk.Add(RefreshInterval)
	if e, err := set.Authenticate(again); err != nil || e.Role != RoleViewer {
		t.Errorf("new alice: %+v %v", e, err)
	}
	if _, err := set.Authenticate(admin); !errors.Is(err, ErrUnknown) {
		t.Errorf("the old alice came back: %v", err)
	}
	list, err := List(dir)
	if err != nil || len(list) != 3 || !list[0].Revoked || list[2].Name != "alice" || list[2].Revoked {
		t.Errorf("list: %+v, %v", list, err)
	}
}

func TestCreateRefusals(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for _, tc := range []struct {
		name string
		role Role
		kind tracewatch.ErrorKind
	}{
		{"", RoleAdmin, tracewatch.KindInvalid},
		{"a b", RoleAdmin, tracewatch.KindInvalid},
		{"../x", RoleAdmin, tracewatch.KindInvalid},
		{strings.Repeat("a", 65), RoleAdmin, tracewatch.KindInvalid},
		{"ok", "root", tracewatch.KindInvalid},
	} {
		if _, err := Create(dir, tc.name, tc.role, now); tracewatch.KindOf(err) != tc.kind {
			t.Errorf("%q %q: %v", tc.name, tc.role, err)
		}
	}
	if _, err := Create(dir, strings.Repeat("a", 64), RoleViewer, now); err != nil {
		t.Errorf("a 64-character name: %v", err)
	}
}

// TestCorruptFile: an unreadable tokens file refuses every token (an internal error),
// and a repaired one is read again.
func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	tok, err := Create(dir, "alice", RoleAdmin, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(Path(dir))
	set := Open(dir, clk.Now)
	if _, err := set.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Path(dir), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Add(RefreshInterval)
	if _, err := set.Authenticate(tok); tracewatch.KindOf(err) != tracewatch.KindInternal {
		t.Errorf("corrupt file: %v, want an internal error", err)
	}
	if _, err := Create(dir, "bob", RoleAdmin, clk.Now()); tracewatch.KindOf(err) != tracewatch.KindInternal {
		t.Errorf("create over a corrupt file: %v", err)
	}
	os.WriteFile(Path(dir), good, 0o600)
	clk.Add(RefreshInterval)
	if _, err := set.Authenticate(tok); err != nil {
		t.Errorf("repaired: %v", err)
	}
}
