package tracewatch

import "strings"

// Role is what a user may do in the clue workflow (docs/workflow.md has the matrix).
type Role string

// The roles.
const (
	RoleAdmin       Role = "admin"       // users and rules; any transition but approving its own work
	RoleReviewer    Role = "reviewer"    // 初审 / 复审: triages, reviews, returns, closes, dismisses
	RolePanel       Role = "panel"       // 合议: votes a clue to deliberated
	RoleDispatcher  Role = "dispatcher"  // 下发: dispatches to a city or county with a deadline
	RoleInspector   Role = "inspector"   // 现场核查 and 反馈, in the region dispatched to
	RoleViewer      Role = "viewer"      // leadership: reads only
	RoleInstitution Role = "institution" // a 定点医药机构: sees its own clues and appeals (申诉)
)

// Roles lists every role in the order the documentation gives them.
var Roles = []Role{RoleAdmin, RoleReviewer, RolePanel, RoleDispatcher, RoleInspector, RoleViewer, RoleInstitution}

// Chinese returns the role's Chinese name.
func (r Role) Chinese() string {
	switch r {
	case RoleAdmin:
		return "管理员"
	case RoleReviewer:
		return "审核员"
	case RolePanel:
		return "合议组成员"
	case RoleDispatcher:
		return "调度员"
	case RoleInspector:
		return "核查员"
	case RoleViewer:
		return "领导查看"
	case RoleInstitution:
		return "定点医药机构"
	}
	return ""
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	for _, k := range Roles {
		if r == k {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, k := range Roles {
		names[i] = string(k)
	}
	return "", Errorf("tracewatch.ParseRole", KindInvalid, "unknown role %q: want one of %s", s, strings.Join(names, ", ")).WithField("role")
}

// User is a person (or a service) acting on tracewatch: the actor of every workflow step
// and audit entry. Region is the 统筹区 it works in; the empty region is the whole
// country (only the service accounts of `tracewatch token create` have it). An
// institution user names its institution.
type User struct {
	Name        string `json:"name"`
	Role        Role   `json:"role"`
	Region      Region `json:"region"`
	Institution string `json:"institution,omitempty"` // fixmedins_code, for the institution role
	Disabled    bool   `json:"disabled,omitempty"`
}

// Covers reports whether the user's region contains region r. The empty user region
// covers every region. A clue whose institution's region is unknown (r empty: the
// institution is missing from the reference data) is covered by province-level users,
// so that it is worked rather than lost; city and county users do not see it.
func (u User) Covers(r Region) bool {
	switch {
	case u.Region == "":
		return true
	case r == "":
		return u.Region.Province() == u.Region
	}
	return u.Region.Contains(r)
}

// Sees reports whether the user may see a clue: an institution user the clues about its
// own institution, anyone else the clues of its region.
func (u User) Sees(c Clue) bool {
	if u.Disabled {
		return false
	}
	if u.Role == RoleInstitution {
		return u.Institution != "" && c.Institution == u.Institution
	}
	return u.Covers(c.Region)
}

// Unmasked reports whether the user may see personal data as stored (ID numbers and
// names unmasked): the roles that verify a case on site and the administrator.
func (u User) Unmasked() bool {
	switch u.Role {
	case RoleAdmin, RoleReviewer, RoleInspector:
		return true
	}
	return false
}
