package netcode

import (
	"slices"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// hysteresis: an entity a client already holds stays in its view until it
// is this many radii away, so entities on the edge do not flicker in and
// out (each entry costs a full state, each exit a removal).
const hysteresis = 1.2

// maxGridCells bounds the grid; very small radii get coarser cells.
const maxGridCells = 1 << 16

// grid is a uniform spatial hash of one tick's entities, rebuilt every tick
// (a counting sort, O(entities + cells)), for area-of-interest queries.
type grid struct {
	cell       int64 // cell side in quantized units (>= the hysteresis radius)
	cols, rows int64
	r2, h2     int64   // squared radius and hysteresis radius, quantized
	start      []int32 // len cells+1: items[start[c]:start[c+1]] are in cell c
	fill       []int32
	items      []int32 // indices into cur, grouped by cell
}

func (g *grid) build(cur []wire.EntityState, radius, width, height float32) {
	r := int64(radius * wire.PosScale)
	h := int64(radius * hysteresis * wire.PosScale)
	g.r2, g.h2 = r*r, h*h
	g.cell = max(h, 1)
	w, ht := int64(width*wire.PosScale), int64(height*wire.PosScale)
	for {
		g.cols, g.rows = w/g.cell+1, ht/g.cell+1
		if g.cols*g.rows <= maxGridCells {
			break
		}
		g.cell *= 2
	}
	n := int(g.cols * g.rows)
	g.start = resize(g.start, n+1)
	g.fill = resize(g.fill, n)
	clear(g.start)
	for i := range cur {
		g.start[g.cellOf(cur[i].X, cur[i].Y)+1]++
	}
	for c := 1; c <= n; c++ {
		g.start[c] += g.start[c-1]
	}
	copy(g.fill, g.start[:n])
	g.items = resize(g.items, len(cur))
	for i := range cur {
		c := g.cellOf(cur[i].X, cur[i].Y)
		g.items[g.fill[c]] = int32(i)
		g.fill[c]++
	}
}

func resize(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func (g *grid) coord(v int32, limit int64) int64 {
	c := int64(v) / g.cell
	return min(max(c, 0), limit-1)
}

func (g *grid) cellOf(x, y int32) int32 {
	return int32(g.coord(y, g.rows)*g.cols + g.coord(x, g.cols))
}

// query appends to dst, sorted, the indices into cur of the entities the
// avatar self sees: those within the radius, plus those already known
// within the hysteresis radius. It appends nothing if self is not in cur.
func (g *grid) query(dst []int32, cur []wire.EntityState, self game.EntityID, known []uint32) []int32 {
	j, ok := slices.BinarySearchFunc(cur, uint32(self), func(e wire.EntityState, id uint32) int {
		return int(int64(e.ID) - int64(id))
	})
	if !ok {
		return dst
	}
	x, y := cur[j].X, cur[j].Y
	cx, cy := g.coord(x, g.cols), g.coord(y, g.rows)
	for row := max(cy-1, 0); row <= min(cy+1, g.rows-1); row++ {
		for col := max(cx-1, 0); col <= min(cx+1, g.cols-1); col++ {
			c := row*g.cols + col
			for _, i := range g.items[g.start[c]:g.start[c+1]] {
				dx, dy := int64(cur[i].X)-int64(x), int64(cur[i].Y)-int64(y)
				d2 := dx*dx + dy*dy
				if d2 <= g.r2 {
					dst = append(dst, i)
				} else if d2 <= g.h2 {
					if _, ok := slices.BinarySearch(known, cur[i].ID); ok {
						dst = append(dst, i)
					}
				}
			}
		}
	}
	slices.Sort(dst)
	return dst
}
