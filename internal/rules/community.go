package rules

import (
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/community"
	"gonum.org/v1/gonum/graph/iterator"
	"gonum.org/v1/gonum/graph/simple"
)

// The communities of C10's co-purchase graph: connected groups, and groups too large to
// be one gang split by modularity (Louvain, gonum's graph/community).

// coLink is one link of the co-purchase graph: persons a and b (indices), weight w.
type coLink struct {
	a, b int
	w    float64
}

type coEdge struct {
	to int
	w  float64
}

// communities returns the groups of linked persons of at least minMembers and at most
// maxMembers, each sorted, in the order of their smallest member. A connected group of
// at most maxMembers is one group; a larger one is split into its modularity
// communities at resolution, and each community's connected parts are judged again
// (a part still larger is split again, up to a depth of 8). A group modularity cannot
// split is dropped. The split is deterministic: nodes in index order, a fixed seed.
func communities(persons []string, links []coLink, minMembers, maxMembers int, resolution float64) [][]int {
	n := len(persons)
	adj := make([][]coEdge, n)
	for _, l := range links {
		if l.a == l.b {
			continue
		}
		adj[l.a] = append(adj[l.a], coEdge{l.b, l.w})
		adj[l.b] = append(adj[l.b], coEdge{l.a, l.w})
	}
	for i := range adj {
		slices.SortFunc(adj[i], func(x, y coEdge) int { return x.to - y.to })
	}
	c := &coGraphs{adj: adj, mark: make([]int, n), local: make([]int, n)}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	var out [][]int
	var split func(nodes []int, depth int)
	split = func(nodes []int, depth int) {
		switch {
		case len(nodes) < minMembers:
		case len(nodes) <= maxMembers:
			out = append(out, nodes)
		case depth < 8:
			parts := c.louvain(nodes, resolution)
			if len(parts) < 2 {
				return // a crowd modularity cannot split
			}
			for _, p := range parts {
				for _, q := range c.components(p) {
					split(q, depth+1)
				}
			}
		}
	}
	for _, comp := range c.components(all) {
		split(comp, 0)
	}
	slices.SortFunc(out, func(x, y []int) int { return x[0] - y[0] })
	return out
}

// coGraphs holds the whole graph and scratch space for its subgraphs.
type coGraphs struct {
	adj   [][]coEdge
	mark  []int // generation stamp: node is in the current set when mark == gen
	gen   int
	local []int // node → its index in the current subgraph
}

// enter marks nodes as the current set.
func (c *coGraphs) enter(nodes []int) {
	c.gen++
	for i, v := range nodes {
		c.mark[v], c.local[v] = c.gen, i
	}
}

// components returns the connected parts of the subgraph on nodes (sorted), each
// sorted, in the order of their smallest node.
func (c *coGraphs) components(nodes []int) [][]int {
	c.enter(nodes)
	in := c.gen
	c.gen++ // a second stamp for "seen"
	seen := c.gen
	var out [][]int
	for _, s := range nodes {
		if c.mark[s] != in {
			continue
		}
		part, stack := []int{}, []int{s}
		c.mark[s] = seen
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			part = append(part, v)
			for _, e := range c.adj[v] {
				if c.mark[e.to] == in {
					c.mark[e.to] = seen
					stack = append(stack, e.to)
				}
			}
		}
		slices.Sort(part)
		out = append(out, part)
	}
	return out
}

// louvain splits the subgraph on nodes (sorted) into its modularity communities, each
// sorted, in the order of their smallest node.
func (c *coGraphs) louvain(nodes []int, resolution float64) [][]int {
	c.enter(nodes)
	g := &subGraph{n: len(nodes), adj: make([][]coEdge, len(nodes))}
	for i, v := range nodes {
		for _, e := range c.adj[v] {
			if c.mark[e.to] == c.gen {
				g.adj[i] = append(g.adj[i], coEdge{c.local[e.to], e.w})
			}
		}
	}
	r := community.Modularize(g, resolution, rand.NewPCG(0x7a1c, 0x0c10))
	var out [][]int
	for _, comm := range r.Communities() {
		part := make([]int, len(comm))
		for i, nd := range comm {
			part[i] = nodes[nd.ID()]
		}
		slices.Sort(part)
		out = append(out, part)
	}
	slices.SortFunc(out, func(x, y []int) int { return x[0] - y[0] })
	return out
}

// subGraph is a weighted undirected graph on nodes 0..n-1 with sorted adjacency lists,
// so that its iteration order, and with it the Louvain result, is deterministic.
type subGraph struct {
	n   int
	adj [][]coEdge
}

var _ graph.WeightedUndirected = (*subGraph)(nil)

func (g *subGraph) Node(id int64) graph.Node {
	if id < 0 || id >= int64(g.n) {
		return nil
	}
	return simple.Node(id)
}

func (g *subGraph) Nodes() graph.Nodes {
	nodes := make([]graph.Node, g.n)
	for i := range nodes {
		nodes[i] = simple.Node(i)
	}
	return iterator.NewOrderedNodes(nodes)
}

func (g *subGraph) From(id int64) graph.Nodes {
	if id < 0 || id >= int64(g.n) || len(g.adj[id]) == 0 {
		return graph.Empty
	}
	nodes := make([]graph.Node, len(g.adj[id]))
	for i, e := range g.adj[id] {
		nodes[i] = simple.Node(e.to)
	}
	return iterator.NewOrderedNodes(nodes)
}

// find returns the weight of the edge x–y.
func (g *subGraph) find(x, y int64) (float64, bool) {
	if x < 0 || x >= int64(g.n) || y < 0 || y >= int64(g.n) {
		return 0, false
	}
	a := g.adj[x]
	i, ok := slices.BinarySearchFunc(a, int(y), func(e coEdge, t int) int { return e.to - t })
	if !ok {
		return 0, false
	}
	return a[i].w, true
}

func (g *subGraph) HasEdgeBetween(x, y int64) bool { _, ok := g.find(x, y); return ok }

func (g *subGraph) Edge(u, v int64) graph.Edge { return g.WeightedEdge(u, v) }

func (g *subGraph) EdgeBetween(x, y int64) graph.Edge { return g.WeightedEdge(x, y) }

func (g *subGraph) WeightedEdgeBetween(x, y int64) graph.WeightedEdge { return g.WeightedEdge(x, y) }

func (g *subGraph) WeightedEdge(u, v int64) graph.WeightedEdge {
	w, ok := g.find(u, v)
	if !ok {
		return nil
	}
	return simple.WeightedEdge{F: simple.Node(u), T: simple.Node(v), W: w}
}

// Weight returns the weight of the edge x–y: 0 for a node with itself, false when none.
func (g *subGraph) Weight(x, y int64) (float64, bool) {
	if x == y {
		return 0, true
	}
	return g.find(x, y)
}
