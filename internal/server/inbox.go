package server

import (
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"sort"

	"tracewatch"
	"tracewatch/internal/workflow"
)

// option is a value and its label, for a page's selects.
type option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// inboxData is what the inbox page's script starts from.
type inboxData struct {
	Detectors []option `json:"detectors"`
	// Targets are the states the user's role may move some clue to: the bulk actions
	// offered (each clue is still checked on its own).
	Targets []option `json:"targets"`
}

// pageJSON is JSON for a page's <script type="application/json"> (not run, so the CSP
// allows it).
func pageJSON(v any) template.JS {
	b, _ := json.Marshal(v)
	return template.JS(b)
}

// roleTargets lists the states a role may move clues to (admin: all).
func roleTargets(role tracewatch.Role) []option {
	seen := map[tracewatch.ClueState]bool{}
	var out []option
	for _, e := range workflow.Matrix() {
		if seen[e.To] || (role != tracewatch.RoleAdmin && !slices.Contains(e.Roles, role)) {
			continue
		}
		seen[e.To] = true
		out = append(out, option{string(e.To), e.To.Chinese()})
	}
	order := map[string]int{}
	for i, s := range tracewatch.ClueStates {
		order[string(s)] = i
	}
	sort.Slice(out, func(i, j int) bool { return order[out[i].Value] < order[out[j].Value] })
	return out
}

// inboxPage is 线索: the clue list with its filters, paging, bulk actions and export,
// filled in by clues.js from GET /api/v1/clues.
func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request, p principal) {
	d := inboxData{Targets: roleTargets(p.Role)}
	ids := make([]string, 0, len(s.titles))
	for id := range s.titles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d.Detectors = append(d.Detectors, option{id, s.titles[id]})
	}
	s.render(w, r, http.StatusOK, pageSpec{template: "clues", title: "线索", nav: "/clues", scripts: []string{"clues.js"}}, p,
		map[string]any{"JSON": pageJSON(d)})
}

// cluePage is 线索详情, filled in by clue.js from GET /api/v1/clues/{id}.
func (s *Server) cluePage(w http.ResponseWriter, r *http.Request, p principal) {
	s.render(w, r, http.StatusOK, pageSpec{template: "clue", title: "线索详情", nav: "/clues", scripts: []string{"clue.js"}}, p,
		map[string]any{"ID": r.PathValue("id")})
}
