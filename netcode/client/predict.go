package client

import (
	"math"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// maxPending bounds the inputs kept for prediction: sent, not yet applied.
// The server refuses a player's inputs beyond 16 waiting, so more than a
// few dozen only pile up when acks stop coming; the oldest are then
// forgotten (the prediction is corrected when the acks resume).
const maxPending = 128

// pendingInput is an input sent but not yet applied by the server, and
// where the avatar is predicted to stand after it.
type pendingInput struct {
	seq   uint32
	in    game.Input
	x, y  float32 // predicted position after this input
	valid bool    // x, y were replayed from a known, live server position
}

// predictor keeps the own avatar's prediction: the server's position from
// the latest snapshot plus every input the server has not applied yet,
// replayed through the mode's movement function. It is not safe for
// concurrent use (the Client guards it with its mutex).
type predictor struct {
	// from the latest Welcome
	move   game.MoveFunc // nil: the mode cannot be predicted
	hz     int
	width  float32
	height float32
	entity uint32

	// the server's answer, from the latest snapshot holding the avatar
	have   bool
	sx, sy float32
	dead   bool
	acked  uint32 // the latest Snapshot.AckSeq

	pending []pendingInput // seqs ascending, all above acked; at most maxPending
	x, y    float32        // the prediction after the newest pending input

	// counters, copied into Stats
	corrections   uint64
	maxCorrection float32
	forgotten     uint64
}

// welcome adopts a connection's Welcome. A resumed seat keeps the inputs
// the server accepted (seq <= LastSeq: they will still be applied) and
// forgets the ones it lost; a new seat starts over.
func (p *predictor) welcome(w wire.Welcome) {
	if !w.Resumed || w.Entity != p.entity {
		*p = predictor{pending: p.pending[:0], corrections: p.corrections,
			maxCorrection: p.maxCorrection, forgotten: p.forgotten}
	}
	p.move = nil
	if m, err := game.FindMode(w.Mode); err == nil {
		p.move = m.Move
	}
	p.hz, p.width, p.height, p.entity = int(w.Hz), w.Width, w.Height, w.Entity
	n := len(p.pending)
	for n > 0 && p.pending[n-1].seq > w.LastSeq {
		n--
	}
	p.pending = p.pending[:n]
	p.replay()
}

// sent records an input just sent with seq.
func (p *predictor) sent(seq uint32, in game.Input) {
	if p.pending == nil {
		p.pending = make([]pendingInput, 0, 16)
	}
	if len(p.pending) == maxPending {
		p.pending = p.pending[:copy(p.pending, p.pending[1:])]
		p.forgotten++
	}
	pi := pendingInput{seq: seq, in: in}
	if p.have {
		p.x, p.y = p.step(p.x, p.y, in)
		pi.x, pi.y, pi.valid = p.x, p.y, p.move != nil && !p.dead
	}
	p.pending = append(p.pending, pi)
}

// step moves (x, y) by one input, as the server will: not at all while the
// avatar is down or when the mode has no movement function.
func (p *predictor) step(x, y float32, in game.Input) (float32, float32) {
	if p.move == nil || p.dead {
		return x, y
	}
	return p.move(x, y, in, p.hz, p.width, p.height)
}

// snapshot takes the server's answer: the own avatar e (ok false if the
// snapshot does not hold it) after every input up to ackSeq. The
// prediction made for ackSeq is compared with it (a difference is a
// correction, unless the avatar died or respawned meanwhile, which no
// client can foresee), the acknowledged inputs are dropped, and the rest
// are replayed from the server's position.
func (p *predictor) snapshot(e wire.EntityState, ok bool, ackSeq uint32) {
	if !ok {
		p.have = false
		return
	}
	p.have = true
	p.sx, p.sy = wire.Dequantize(e.X), wire.Dequantize(e.Y)
	p.dead = e.Flags&game.FlagDead != 0
	if ackSeq != p.acked {
		p.acked = ackSeq
		n := 0
		for n < len(p.pending) && p.pending[n].seq <= ackSeq {
			n++
		}
		if n > 0 {
			if last := p.pending[n-1]; last.seq == ackSeq && last.valid && !p.dead {
				if d := math.Hypot(float64(last.x-p.sx), float64(last.y-p.sy)); d != 0 {
					p.corrections++
					p.maxCorrection = max(p.maxCorrection, float32(d))
				}
			}
			p.pending = p.pending[:copy(p.pending, p.pending[n:])]
		}
	}
	p.replay()
}

// replay recomputes the prediction after each pending input from the
// server's latest position.
func (p *predictor) replay() {
	if !p.have {
		return
	}
	x, y := p.sx, p.sy
	for i := range p.pending {
		pi := &p.pending[i]
		x, y = p.step(x, y, pi.in)
		pi.x, pi.y, pi.valid = x, y, p.move != nil && !p.dead
	}
	p.x, p.y = x, y
}

// predicted returns the own avatar's predicted position.
func (p *predictor) predicted() (x, y float32, ok bool) {
	return p.x, p.y, p.have
}

// Predicted returns where the own avatar will stand once the server has
// applied every input sent so far: its position in the latest snapshot
// plus the inputs the server has not applied yet (seq above the
// snapshot's AckSeq), replayed through the mode's game.Mode.Move, so
// the player's own movement shows without waiting a round trip. A dead
// avatar does not move; a mode without Move gives the server's position.
// ok is false until a snapshot has shown the avatar. During a reconnect
// the last prediction holds.
func (c *Client) Predicted() (x, y float32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pred.predicted()
}
