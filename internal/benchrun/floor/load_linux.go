//go:build linux

package floor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// RunLoad opens cfg.Conns connections to a floor server, each sending its
// hello, then drives them from cfg.Loops goroutines until cfg.Duration is
// over or ctx is done: every tick each connection gets one UpSize-byte
// message, and every DownSize-byte message that arrives is read, checked
// and timed. The load is light on purpose (raw non-blocking sockets and
// one epoll instance per goroutine, no goroutine per connection and no
// wake-up per message beyond the poll), so the machine's CPU goes to the
// server under test.
func RunLoad(ctx context.Context, cfg LoadConfig) (LoadSummary, error) {
	if err := cfg.setDefaults(); err != nil {
		return LoadSummary{}, err
	}
	sa, err := sockaddr(cfg.Addr)
	if err != nil {
		return LoadSummary{}, err
	}
	start := time.Now()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(cfg.Duration))
		defer cancel()
	}
	sum := LoadSummary{Bots: cfg.Conns}
	loops := make([]*loop, cfg.Loops)
	defer func() {
		for _, l := range loops {
			if l != nil {
				l.close()
			}
		}
	}()
	for i := range loops {
		if loops[i], err = newLoop(cfg.Phases); err != nil {
			return sum, err
		}
	}
	var dialErr error
	for i := 0; i < cfg.Conns && ctx.Err() == nil; i++ {
		fd, err := dial(sa)
		if err == nil {
			err = loops[i%len(loops)].add(fd)
		}
		if err != nil {
			sum.ConnectErrors++
			dialErr = err
			continue
		}
		sum.PeakConnected++
	}
	if sum.PeakConnected == 0 {
		if dialErr == nil {
			dialErr = ctx.Err()
		}
		return sum, fmt.Errorf("floor: no connection to %s: %w", cfg.Addr, dialErr)
	}

	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	period := time.Second / time.Duration(cfg.Hz)
	measureFrom := start.Add(cfg.MeasureAfter)
	var wg sync.WaitGroup
	for i, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(&stop, period, measureFrom, i, len(loops))
		}()
	}
	wg.Wait()
	end := time.Now()

	var gaps histogram
	var bytesIn, bytesOut uint64
	var botNanos int64
	for _, l := range loops {
		gaps.merge(&l.gaps)
		sum.Snapshots += l.snapshots
		sum.Inputs += l.inputs
		sum.InputsDropped += l.dropped
		sum.Disconnects += l.disconnects
		bytesIn += l.bytesIn
		bytesOut += l.bytesOut
		botNanos += l.botNanos
		if l.err != nil && len(sum.ErrorSamples) < 8 {
			sum.ErrorSamples = append(sum.ErrorSamples, l.err.Error())
		}
	}
	if dialErr != nil {
		sum.ErrorSamples = append(sum.ErrorSamples, "dial: "+dialErr.Error())
	}
	sum.Errors = sum.ConnectErrors + sum.Disconnects
	sum.DurationS = end.Sub(start).Seconds()
	sum.MeasuredS = max(0, end.Sub(measureFrom).Seconds())
	sum.BotSeconds = float64(botNanos) / 1e9
	sum.SnapshotGapMS = gaps.quantiles()
	if sum.BotSeconds > 0 {
		sum.DownBytesPerBotS = float64(bytesIn) / sum.BotSeconds
		sum.DownWireBytesPerBotS = sum.DownBytesPerBotS
		sum.UpBytesPerBotS = float64(bytesOut) / sum.BotSeconds
		sum.UpWireBytesPerBotS = sum.UpBytesPerBotS
	}
	return sum, nil
}

func sockaddr(addr string) (*syscall.SockaddrInet4, error) {
	a, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: a.Port}
	ip := a.IP.To4()
	if ip == nil {
		return nil, fmt.Errorf("floor: %q is not an IPv4 address", addr)
	}
	copy(sa.Addr[:], ip)
	return sa, nil
}

// dial connects a blocking socket, sends the hello, then makes the socket
// non-blocking. The sockets are raw file descriptors, outside Go's network
// poller, so no goroutine ever waits on one.
func dial(sa *syscall.SockaddrInet4) (int, error) {
	var err error
	for try := 0; try < 3; try++ {
		var fd int
		if fd, err = dialOnce(sa); err == nil || !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
	return -1, err
}

func dialOnce(sa *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("floor: socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		_ = syscall.Close(fd)
		return -1, fmt.Errorf("floor: %s: %w", what, err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		return fail("connect", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return fail("TCP_NODELAY", err)
	}
	var hello [UpSize]byte
	PutUp(hello[:], 0)
	for off := 0; off < len(hello); {
		n, err := syscall.Write(fd, hello[off:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fail("hello", err)
		}
		off += n
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		return fail("nonblock", err)
	}
	return fd, nil
}

// lconn is one load connection, owned by its loop.
type lconn struct {
	fd     int
	dead   bool
	seq    uint32
	group  int            // the phase of the tick its inputs go out at
	in     [DownSize]byte // the message being received
	inOff  int
	last   int64 // unix nanos of the previous complete message (0: none)
	out    [UpSize]byte
	outOff int // bytes of out already written (0: nothing pending)
}

// loop drives a share of the connections from one goroutine.
type loop struct {
	ep     int
	phases int
	conns  []*lconn
	alive  int
	buf    [16 << 10]byte

	// counters; read after run returns
	gaps                                    histogram
	snapshots, inputs, dropped, disconnects uint64
	bytesIn, bytesOut                       uint64 // in the measured window
	botNanos                                int64  // connected time in the window
	err                                     error  // the first error seen
}

func newLoop(phases int) (*loop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("floor: epoll_create1: %w", err)
	}
	return &loop{ep: ep, phases: max(phases, 1)}, nil
}

func (l *loop) add(fd int) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(len(l.conns))}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = syscall.Close(fd)
		return fmt.Errorf("floor: epoll_ctl: %w", err)
	}
	l.conns = append(l.conns, &lconn{fd: fd, group: len(l.conns) % l.phases})
	l.alive++
	return nil
}

func (l *loop) close() {
	for _, c := range l.conns {
		if !c.dead {
			c.dead = true
			_ = syscall.Close(c.fd)
		}
	}
	_ = syscall.Close(l.ep)
}

// run sends every connection an input each period and reads whatever
// arrives in between, until stop is set. The period is cut into phases
// slots; each slot sends the inputs of one group of connections, and loop
// idx of n starts its slots idx/n of a slot after the first loop's.
func (l *loop) run(stop *atomic.Bool, period time.Duration, measureFrom time.Time, idx, n int) {
	events := make([]syscall.EpollEvent, 256)
	slot := period / time.Duration(l.phases)
	last := time.Now()
	next := last.Add(slot * time.Duration(idx) / time.Duration(max(n, 1)))
	group := 0
	for !stop.Load() && l.alive > 0 {
		now := time.Now()
		if !now.Before(next) {
			measuring := !now.Before(measureFrom)
			l.send(group, measuring)
			if measuring {
				l.botNanos += int64(l.alive) * int64(now.Sub(last))
			}
			last = now
			group = (group + 1) % l.phases
			if next = next.Add(slot); now.Sub(next) > period {
				next = now.Add(slot) // far behind: skip, do not burst
			}
		}
		ms := int((next.Sub(now) + time.Millisecond - 1) / time.Millisecond)
		n, err := syscall.EpollWait(l.ep, events, max(ms, 0))
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			l.note(fmt.Errorf("floor: epoll_wait: %w", err))
			return
		}
		now = time.Now()
		measuring := !now.Before(measureFrom)
		for _, ev := range events[:n] {
			if c := l.conns[ev.Fd]; !c.dead {
				l.read(c, now.UnixNano(), measuring)
			}
		}
	}
}

// read drains what a readable connection has, timing each complete message.
func (l *loop) read(c *lconn, now int64, measuring bool) {
	for {
		n, err := syscall.Read(c.fd, l.buf[:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return
		case err != nil:
			l.drop(c, fmt.Errorf("floor: read: %w", err))
			return
		case n == 0:
			l.drop(c, errors.New("floor: server closed the connection"))
			return
		}
		if measuring {
			l.bytesIn += uint64(n)
		}
		for b := l.buf[:n]; len(b) > 0; {
			k := copy(c.in[c.inOff:], b)
			b, c.inOff = b[k:], c.inOff+k
			if c.inOff < DownSize {
				continue
			}
			c.inOff = 0
			if _, err := ParseDown(c.in[:]); err != nil {
				l.drop(c, err)
				return
			}
			l.snapshots++
			if c.last != 0 && measuring {
				l.gaps.add(time.Duration(now - c.last))
			}
			c.last = now
		}
		if n < len(l.buf) {
			return
		}
	}
}

// send writes one input to every live connection of group; a connection
// whose socket cannot take it drops it (counted).
func (l *loop) send(group int, measuring bool) {
	for _, c := range l.conns {
		if c.dead || c.group != group {
			continue
		}
		if c.outOff == 0 {
			c.seq++
			PutUp(c.out[:], c.seq)
		}
		for c.outOff < UpSize {
			n, err := syscall.Write(c.fd, c.out[c.outOff:])
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if errors.Is(err, syscall.EAGAIN) {
				break
			}
			if err != nil {
				l.drop(c, fmt.Errorf("floor: write: %w", err))
				break
			}
			c.outOff += n
			if measuring {
				l.bytesOut += uint64(n)
			}
		}
		switch {
		case c.dead:
		case c.outOff == UpSize:
			c.outOff = 0
			l.inputs++
		default:
			l.dropped++ // the rest goes out next tick, before the next input
		}
	}
}

func (l *loop) drop(c *lconn, err error) {
	c.dead = true
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
	_ = syscall.Close(c.fd)
	l.alive--
	l.disconnects++
	l.note(err)
}

func (l *loop) note(err error) {
	if l.err == nil {
		l.err = err
	}
}
