package token

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"tracewatch"
)

// The users of the workplace live in the same file as the tokens (keys/tokens.json,
// "users"), under the same lock, re-read by a running server the same way: a user
// created, disabled or given a new password by `tracewatch user` counts within about a
// second. A password is kept as an Argon2id hash only.

// UserRecord is one user as stored.
type UserRecord struct {
	tracewatch.User
	Password string    `json:"password,omitempty"` // Argon2id in PHC form; empty: no password (tokens only)
	Created  time.Time `json:"created"`
	Changed  time.Time `json:"changed,omitzero"` // the password or the status last changed
}

// institutionRE is the national form of a fixmedins_code.
var institutionRE = regexp.MustCompile(`^[A-Za-z0-9]{12}$`)

// Argon2id parameters (OWASP's minimum: 19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
	// MinPassword is the shortest password accepted (in characters).
	MinPassword = 10
	maxPassword = 256
)

// CreateUser adds a user. The name must be new among users and tokens' users; the role,
// region and institution are checked (an institution user names its institution, no
// other does). An empty password makes a user that signs in with tokens only.
func CreateUser(dataDir string, u tracewatch.User, password string, now time.Time) error {
	const op = "token.CreateUser"
	if !nameRE.MatchString(u.Name) {
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit").WithField("name")
	}
	if _, err := tracewatch.ParseRole(string(u.Role)); err != nil {
		return err
	}
	if _, err := tracewatch.ParseRegion(string(u.Region)); err != nil {
		return tracewatch.E(op, tracewatch.KindInvalid, err).WithField("region")
	}
	u.Institution = strings.TrimSpace(u.Institution)
	switch {
	case u.Role == tracewatch.RoleInstitution && u.Institution == "":
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "an institution user needs --institution (its fixmedins_code)").WithField("institution")
	case u.Role != tracewatch.RoleInstitution && u.Institution != "":
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "only an institution user names an institution").WithField("institution")
	case u.Institution != "" && !institutionRE.MatchString(u.Institution):
		return tracewatch.Errorf(op, tracewatch.KindInvalid, "want a fixmedins_code: 12 letters and digits").WithField("institution")
	}
	hash := ""
	if password != "" {
		var err error
		if hash, err = hashPassword(password); err != nil {
			return err
		}
	}
	u.Disabled = false
	return update(dataDir, func(f *file) error {
		for _, o := range f.Users {
			if o.Name == u.Name {
				return tracewatch.Errorf(op, tracewatch.KindConflict, "a user named %s exists", u.Name).WithField("name")
			}
		}
		for _, e := range f.Tokens {
			if e.User == "" && e.Name == u.Name && !e.Revoked {
				return tracewatch.Errorf(op, tracewatch.KindConflict, "a service token named %s exists: choose another name", u.Name).WithField("name")
			}
		}
		f.Users = append(f.Users, UserRecord{User: u, Password: hash, Created: now.UTC()})
		return nil
	})
}

// Users lists the users in creation order (with their password hashes: callers print
// only the user).
func Users(dataDir string) ([]UserRecord, error) {
	f, err := read(Path(dataDir))
	return f.Users, err
}

// DisableUser disables a user: it can no longer sign in, its sessions end and its tokens
// are refused. KindNotFound for no such user, KindConflict when already disabled.
func DisableUser(dataDir, name string, now time.Time) error {
	const op = "token.DisableUser"
	return changeUser(dataDir, op, name, func(r *UserRecord) error {
		if r.Disabled {
			return tracewatch.Errorf(op, tracewatch.KindConflict, "user %s is already disabled", name)
		}
		r.Disabled, r.Changed = true, now.UTC()
		return nil
	})
}

// SetPassword gives a user a new password.
func SetPassword(dataDir, name, password string, now time.Time) error {
	const op = "token.SetPassword"
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	return changeUser(dataDir, op, name, func(r *UserRecord) error {
		r.Password, r.Changed = hash, now.UTC()
		return nil
	})
}

func changeUser(dataDir, op, name string, change func(*UserRecord) error) error {
	return update(dataDir, func(f *file) error {
		for i := range f.Users {
			if f.Users[i].Name == name {
				return change(&f.Users[i])
			}
		}
		return tracewatch.Errorf(op, tracewatch.KindNotFound, "no user named %s", name).WithField("name")
	})
}

// CreateUserToken issues a bearer token for a user and returns it: the only time it is
// shown. The token acts as the user, with the user's role and region as they are when it
// is used.
func CreateUserToken(dataDir, name string, now time.Time) (string, Entry, error) {
	const op = "token.CreateUserToken"
	var tok string
	var out Entry
	err := update(dataDir, func(f *file) error {
		found := false
		for _, u := range f.Users {
			if u.Name == name {
				found = true
				if u.Disabled {
					return tracewatch.Errorf(op, tracewatch.KindConflict, "user %s is disabled", name)
				}
			}
		}
		if !found {
			return tracewatch.Errorf(op, tracewatch.KindNotFound, "no user named %s (tracewatch user create)", name).WithField("name")
		}
		n := 1
		for _, e := range f.Tokens {
			if e.User == name {
				n++
			}
		}
		r, err := RandomAlnum(randLen)
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		tok = prefix + r
		out = Entry{Name: fmt.Sprintf("%s.%d", name, n), User: name, Hash: hashHex(tok), Created: now.UTC()}
		f.Tokens = append(f.Tokens, out)
		return nil
	})
	return tok, out, err
}

// ErrLogin is the one answer to a failed sign-in, whatever failed (no such user, a wrong
// password, a disabled user): it tells an attacker nothing.
var ErrLogin = fmt.Errorf("wrong name or password")

// Login checks a name and password and returns the user. Every failure is ErrLogin
// (KindUnauthorized), and takes as long as a success.
func (s *Set) Login(name, password string) (tracewatch.User, error) {
	const op = "token.Login"
	f, err := s.file()
	if err != nil {
		return tracewatch.User{}, err
	}
	var rec *UserRecord
	for i := range f.Users {
		if f.Users[i].Name == name {
			rec = &f.Users[i]
		}
	}
	stored := dummyHash()
	if rec != nil && rec.Password != "" {
		stored = rec.Password
	}
	ok := checkPassword(stored, password)
	if rec == nil || rec.Password == "" || rec.Disabled || !ok {
		return tracewatch.User{}, tracewatch.E(op, tracewatch.KindUnauthorized, ErrLogin)
	}
	return rec.User, nil
}

// User returns a user as the file says now: KindUnauthorized when it is missing or
// disabled (a session or token of that user ends).
func (s *Set) User(name string) (tracewatch.User, error) {
	const op = "token.User"
	f, err := s.file()
	if err != nil {
		return tracewatch.User{}, err
	}
	for _, r := range f.Users {
		if r.Name == name {
			if r.Disabled {
				return tracewatch.User{}, tracewatch.Errorf(op, tracewatch.KindUnauthorized, "user %s is disabled", name)
			}
			return r.User, nil
		}
	}
	return tracewatch.User{}, tracewatch.Errorf(op, tracewatch.KindUnauthorized, "no user named %s", name)
}

// Principal returns who a bearer token acts as: its user, or for a service token of
// `tracewatch token create` a user of the token's name and role over every region.
func (s *Set) Principal(tok string) (tracewatch.User, Entry, error) {
	e, err := s.Authenticate(tok)
	if err != nil {
		return tracewatch.User{}, e, err
	}
	if e.User == "" {
		return tracewatch.User{Name: e.Name, Role: tracewatch.Role(e.Role)}, e, nil
	}
	u, err := s.User(e.User)
	if err != nil {
		return tracewatch.User{}, e, tracewatch.E("token.Principal", tracewatch.KindUnauthorized, ErrUnknown)
	}
	return u, e, nil
}

// hashPassword returns the Argon2id hash of a password in PHC form.
func hashPassword(pw string) (string, error) {
	const op = "token.Password"
	if n := utf8.RuneCountInString(pw); n < MinPassword || len(pw) > maxPassword {
		return "", tracewatch.Errorf(op, tracewatch.KindInvalid, "a password has %d to %d characters", MinPassword, maxPassword).WithField("password")
	}
	if !utf8.ValidString(pw) || strings.ContainsAny(pw, "\r\n\x00") {
		return "", tracewatch.Errorf(op, tracewatch.KindInvalid, "a password is one line of text").WithField("password")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", tracewatch.E(op, tracewatch.KindInternal, err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether pw matches a PHC Argon2id hash (with the parameters the
// hash names, so stronger settings later still read older hashes).
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked when a sign-in names no user, so that it takes as long.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("no-such-user-password")
	return h
})
