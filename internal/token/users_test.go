package token

import (
	"os"
	"strings"
	"testing"
	"time"

	"tracewatch"
)

// TestUsers is the life of a user: created with a hashed password, signs in, gets a
// token that acts as it, changes its password, is disabled (sign-in, and its tokens,
// refused within a refresh interval).
func TestUsers(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: now}
	set := Open(dir, clk.Now)
	rev := tracewatch.User{Name: "wang.li", Role: tracewatch.RoleReviewer, Region: "360100"}
	if err := CreateUser(dir, rev, "correct horse battery", now); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(Path(dir))
	if strings.Contains(string(b), "correct horse") || !strings.Contains(string(b), "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("the password is not stored as an Argon2id hash:\n%s", b)
	}
	for _, bad := range []struct {
		u    tracewatch.User
		pw   string
		kind tracewatch.ErrorKind
	}{
		{rev, "another long password", tracewatch.KindConflict},
		{tracewatch.User{Name: "x", Role: "boss", Region: "360100"}, "", tracewatch.KindInvalid},
		{tracewatch.User{Name: "x", Role: "reviewer", Region: "3601"}, "", tracewatch.KindInvalid},
		{tracewatch.User{Name: "x", Role: "reviewer", Region: "360100"}, "short", tracewatch.KindInvalid},
		{tracewatch.User{Name: "x", Role: "institution", Region: "360100"}, "", tracewatch.KindInvalid},
		{tracewatch.User{Name: "x", Role: "reviewer", Region: "360100", Institution: "P1"}, "", tracewatch.KindInvalid},
		{tracewatch.User{Name: "x y", Role: "reviewer", Region: "360100"}, "", tracewatch.KindInvalid},
		{tracewatch.User{Name: "x", Role: "institution", Region: "360100", Institution: "P1\xff"}, "", tracewatch.KindInvalid},
	} {
		if err := CreateUser(dir, bad.u, bad.pw, now); tracewatch.KindOf(err) != bad.kind {
			t.Errorf("%+v: %v, want %v", bad.u, err, bad.kind)
		}
	}
	if u, err := set.Login("wang.li", "correct horse battery"); err != nil || u != rev {
		t.Fatalf("login: %+v %v", u, err)
	}
	for _, c := range [][2]string{{"wang.li", "wrong password!"}, {"nobody", "correct horse battery"}, {"wang.li", ""}} {
		if _, err := set.Login(c[0], c[1]); tracewatch.KindOf(err) != tracewatch.KindUnauthorized || err.Error() != "token.Login: wrong name or password" {
			t.Errorf("login %v: %v", c, err)
		}
	}
	tok, e, err := CreateUserToken(dir, "wang.li", now)
	if err != nil || e.Name != "wang.li.1" || e.User != "wang.li" {
		t.Fatalf("user token: %+v %v", e, err)
	}
	clk.Add(RefreshInterval)
	if u, _, err := set.Principal(tok); err != nil || u != rev {
		t.Fatalf("principal: %+v %v", u, err)
	}
	if _, _, err := CreateUserToken(dir, "nobody", now); tracewatch.KindOf(err) != tracewatch.KindNotFound {
		t.Errorf("token of no user: %v", err)
	}
	// A service token keeps its own role, over every region; it cannot take a user's name.
	svc, err := Create(dir, "etl", RoleAdmin, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, "wang.li", RoleAdmin, now); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("a service token named as a user: %v", err)
	}
	clk.Add(RefreshInterval)
	if u, _, err := set.Principal(svc); err != nil || u != (tracewatch.User{Name: "etl", Role: tracewatch.RoleAdmin}) {
		t.Errorf("service principal: %+v %v", u, err)
	}
	if err := SetPassword(dir, "wang.li", "a brand new password", now); err != nil {
		t.Fatal(err)
	}
	clk.Add(RefreshInterval)
	if _, err := set.Login("wang.li", "correct horse battery"); err == nil {
		t.Error("the old password still works")
	}
	if _, err := set.Login("wang.li", "a brand new password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if err := DisableUser(dir, "wang.li", now); err != nil {
		t.Fatal(err)
	}
	if err := DisableUser(dir, "wang.li", now); tracewatch.KindOf(err) != tracewatch.KindConflict {
		t.Errorf("disabled twice: %v", err)
	}
	clk.Add(RefreshInterval)
	if _, err := set.Login("wang.li", "a brand new password"); tracewatch.KindOf(err) != tracewatch.KindUnauthorized {
		t.Errorf("a disabled user signed in: %v", err)
	}
	if _, _, err := set.Principal(tok); tracewatch.KindOf(err) != tracewatch.KindUnauthorized {
		t.Errorf("a disabled user's token: %v", err)
	}
	if _, err := set.User("wang.li"); tracewatch.KindOf(err) != tracewatch.KindUnauthorized {
		t.Errorf("a disabled user: %v", err)
	}
	us, err := Users(dir)
	if err != nil || len(us) != 1 || !us[0].Disabled {
		t.Errorf("users: %+v %v", us, err)
	}
}

func TestCheckPassword(t *testing.T) {
	h, err := hashPassword("密码也可以是中文的十个字")
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(h, "密码也可以是中文的十个字") || checkPassword(h, "密码也可以是中文的十个") {
		t.Error("check")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", strings.Replace(h, "v=19", "v=18", 1)} {
		if checkPassword(bad, "x") {
			t.Errorf("%q accepted", bad)
		}
	}
}
