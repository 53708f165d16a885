package inetsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// TCP repair (include/uapi/linux/tcp.h), as CRIU's libsoccr uses it.
const (
	tcpRepairOff     = 0 // TCP_REPAIR_OFF: leave repair mode and send a window probe
	tcpNoQueue       = 0
	tcpRecvQueue     = 1
	tcpSendQueue     = 2
	tcpoptMaxseg     = 2
	tcpoptWindow     = 3
	tcpoptSackPerm   = 4
	tcpoptTimestamp  = 8
	tcpiOptTimestamp = 1
	tcpiOptSack      = 2
	tcpiOptWscale    = 4
	siocOutqNSD      = 0x894B // SIOCOUTQNSD
)

// RepairOn puts a TCP socket in repair mode: it sends nothing, and a close
// sends neither FIN nor RST. It needs CAP_NET_ADMIN in the user namespace
// owning the socket's network namespace. The kernel also makes the socket
// able to bind any port (SO_REUSEADDR reads 2): keep says to set the app's
// SO_REUSEADDR back at once.
// ErrInFlight: a connection was read with a FIN in flight to its peer (on a
// loopback it lands within microseconds): reading it again a moment later
// succeeds.
var ErrInFlight = errors.New("in flight: checkpoint again")

func RepairOn(fd int, keep bool) error {
	reuse, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR)
	if err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1); err != nil {
		return fmt.Errorf("TCP_REPAIR: %w", err)
	}
	if keep {
		return SetReuseAddr(fd, reuse)
	}
	return nil
}

// SetReuseAddr sets SO_REUSEADDR (after repair mode's forced reuse).
func SetReuseAddr(fd, v int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, v); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	return nil
}

// RepairOff leaves repair mode and sends a window probe (both ends exist
// when it is called: at the thaw of a checkpoint the app runs on from, and
// once a restored tree is verified). The probe makes the peer answer with
// its ACK at once: segments the kernel dropped while either end was in
// repair mode are then sent again within a round trip, not after a
// retransmission timeout (measured: without it a keep-running checkpoint
// of a connection mid-transfer stalled it for seconds).
func RepairOff(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, tcpRepairOff); err != nil {
		return fmt.Errorf("TCP_REPAIR off: %w", err)
	}
	return nil
}

// ReadConn reads an established connection of a socket in repair mode:
// its state and the bytes of its receive queue and send queue.
func ReadConn(fd int) (*image.TCPConn, []byte, []byte, error) {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TCP_INFO: %w", err)
	}
	if !Connected(int(ti.State)) {
		return nil, nil, nil, fmt.Errorf("state %s, not established", TCPStateName(int(ti.State)))
	}
	c := &image.TCPConn{Options: int(ti.Options)}
	st := int(ti.State)
	if st != StateEstablished {
		c.State = st
	}
	c.FinSent = st == StateFinWait1 || st == StateFinWait2 || st == StateClosing || st == StateLastAck
	c.FinRecv = st == StateCloseWait || st == StateClosing || st == StateLastAck
	finQueued := c.FinSent && st != StateFinWait2 // in the send queue, not acknowledged
	if c.Options&tcpiOptWscale != 0 {
		// tcpi_snd_wscale:4, tcpi_rcv_wscale:4 share byte 6 (x/sys's
		// TCPInfo has it as padding).
		raw := make([]byte, 8)
		if n, err := getsockopt(fd, unix.IPPROTO_TCP, unix.TCP_INFO, raw); err != nil || n < 7 {
			return nil, nil, nil, fmt.Errorf("TCP_INFO: %v", err)
		}
		c.SndWscale, c.RcvWscale = int(raw[6]&0xf), int(raw[6]>>4)
	}
	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("SIOCOUTQ: %w", err)
	}
	unsq, err := unix.IoctlGetInt(fd, siocOutqNSD)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("SIOCOUTQNSD: %w", err)
	}
	inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("SIOCINQ: %w", err)
	}
	if finQueued {
		// The FIN counts one in SIOCOUTQ, and in SIOCOUTQNSD until sent.
		if outq == 0 {
			return nil, nil, nil, fmt.Errorf("state %s with an empty send queue", TCPStateName(st))
		}
		outq--
		if unsq > 0 {
			unsq--
		} else {
			return nil, nil, nil, fmt.Errorf("state %s, its FIN sent and not acknowledged yet (%w)", TCPStateName(st), ErrInFlight)
		}
	}
	if !c.FinRecv {
		// Reading shut down with no FIN received: the app's
		// shutdown(SHUT_RD).
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if _, err := unix.Poll(p, 0); err == nil && p[0].Revents&unix.POLLRDHUP != 0 {
			c.ShutRd = true
		}
	}
	c.SendLen, c.Unsent, c.RecvLen = outq, unsq, inq
	mss, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TCP_MAXSEG: %w", err)
	}
	c.MSS = uint32(mss)
	if c.Options&tcpiOptTimestamp != 0 {
		ts, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("TCP_TIMESTAMP: %w", err)
		}
		c.Timestamp = uint32(ts)
	}
	w := make([]byte, 20)
	n, err := getsockopt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, w)
	if err != nil || n != 20 {
		return nil, nil, nil, fmt.Errorf("TCP_REPAIR_WINDOW: %v (%d bytes)", err, n)
	}
	for i := range c.Window {
		c.Window[i] = binary.LittleEndian.Uint32(w[4*i:])
	}
	recv, seq, err := peekQueue(fd, tcpRecvQueue, inq)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("receive queue: %w", err)
	}
	c.RcvSeq = seq
	if c.FinRecv {
		c.RcvSeq-- // the FIN's
	}
	send, seq, err := peekQueue(fd, tcpSendQueue, outq)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("send queue: %w", err)
	}
	c.SndSeq = seq
	if c.FinSent {
		c.SndSeq--
	}
	return c, recv, send, nil
}

// peekQueue selects a queue of a socket in repair mode and reads its
// sequence number and its n bytes (MSG_PEEK: they stay).
func peekQueue(fd, queue, n int) ([]byte, uint32, error) {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return nil, 0, fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
	}
	defer unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue) //nolint:errcheck
	seq, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ)
	if err != nil {
		return nil, 0, fmt.Errorf("TCP_QUEUE_SEQ: %w", err)
	}
	buf := make([]byte, n)
	if n == 0 {
		return buf, uint32(seq), nil
	}
	for {
		m, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if m != n {
			return nil, 0, fmt.Errorf("peeked %d of %d bytes", m, n)
		}
		return buf, uint32(seq), nil
	}
}

// RestoreConn makes a new socket in repair mode, bound to its local
// address, the connection c to peer: sequence numbers, connect (no SYN in
// repair mode), negotiated options, timestamps, window, and the queues
// (the send queue's unsent tail excepted: SendTail after RepairOff).
func RestoreConn(fd, family int, peer unix.Sockaddr, c *image.TCPConn, recv, send []byte) error {
	if err := setQueueSeq(fd, tcpRecvQueue, c.RcvSeq-uint32(c.RecvLen)); err != nil {
		return err
	}
	if err := setQueueSeq(fd, tcpSendQueue, c.SndSeq-uint32(c.SendLen)); err != nil {
		return err
	}
	if err := unix.Connect(fd, peer); err != nil {
		return fmt.Errorf("connect in repair mode: %w", err)
	}
	var opts []byte
	add := func(code, val uint32) {
		opts = binary.LittleEndian.AppendUint32(opts, code)
		opts = binary.LittleEndian.AppendUint32(opts, val)
	}
	if c.Options&tcpiOptWscale != 0 {
		add(tcpoptWindow, uint32(c.SndWscale)|uint32(c.RcvWscale)<<16)
	}
	if c.Options&tcpiOptTimestamp != 0 {
		add(tcpoptTimestamp, 0)
	}
	if c.Options&tcpiOptSack != 0 {
		add(tcpoptSackPerm, 0)
	}
	add(tcpoptMaxseg, c.MSS)
	if err := setsockopt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_OPTIONS, opts); err != nil {
		return fmt.Errorf("TCP_REPAIR_OPTIONS: %w", err)
	}
	if c.Options&tcpiOptTimestamp != 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP, int(c.Timestamp)); err != nil {
			return fmt.Errorf("TCP_TIMESTAMP: %w", err)
		}
	}
	if err := fillQueue(fd, tcpRecvQueue, recv); err != nil {
		return fmt.Errorf("receive queue: %w", err)
	}
	if err := fillQueue(fd, tcpSendQueue, send[:c.SendLen-c.Unsent]); err != nil {
		return fmt.Errorf("send queue: %w", err)
	}
	// The window last: rcv_wup may not be after rcv_nxt, which the
	// receive queue's bytes have moved to where it was.
	win := c.Window
	if c.FinRecv {
		// The window's left edge may be the FIN's end, after rcv_nxt
		// now: one back, the right edge where it was.
		win[4]--
		win[3]++
	}
	var w []byte
	for _, v := range win {
		w = binary.LittleEndian.AppendUint32(w, v)
	}
	if err := setsockopt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, w); err != nil {
		return fmt.Errorf("TCP_REPAIR_WINDOW: %w", err)
	}
	return nil
}

func setQueueSeq(fd, queue int, seq uint32) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(int32(seq))); err != nil {
		return fmt.Errorf("TCP_QUEUE_SEQ: %w", err)
	}
	return nil
}

// fillQueue writes b into a queue of a socket in repair mode (as received
// data, or as data sent and not acknowledged).
func fillQueue(fd, queue int, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return fmt.Errorf("TCP_REPAIR_QUEUE: %w", err)
	}
	defer unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue) //nolint:errcheck
	for len(b) > 0 {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// SendTail sends the send queue's unsent bytes, once out of repair mode,
// as the app's own send would have. The app is not running yet, so its
// peer reads nothing: when the send buffer has no room (the kernel counts
// the restored queue's memory a little differently), it is grown for the
// moment (SO_SNDBUFFORCE: crrun has CAP_NET_ADMIN wherever it may repair)
// and set back after, with its lock (SO_BUF_LOCK).
func SendTail(fd int, b []byte) (err error) {
	grown := false
	var oldBuf, oldLock int
	defer func() {
		if grown {
			if e := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, oldBuf/2); e != nil && err == nil {
				err = fmt.Errorf("SO_SNDBUF back to %d: %w", oldBuf, e)
			}
			if e := unix.SetsockoptInt(fd, unix.SOL_SOCKET, 72, oldLock); e != nil && err == nil { // SO_BUF_LOCK
				err = fmt.Errorf("SO_BUF_LOCK back to %d: %w", oldLock, e)
			}
		}
	}()
	for len(b) > 0 {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_DONTWAIT)
		switch err {
		case nil:
			b = b[n:]
		case unix.EINTR:
		case unix.EAGAIN:
			if !grown {
				if oldBuf, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil {
					return fmt.Errorf("SO_SNDBUF: %w", err)
				}
				if oldLock, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, 72); err != nil {
					return fmt.Errorf("SO_BUF_LOCK: %w", err)
				}
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, oldBuf+2*len(b)+(1<<16)); err != nil {
					return fmt.Errorf("SO_SNDBUFFORCE: %w", err)
				}
				grown = true
				continue
			}
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(p, 5000); err != nil && err != unix.EINTR {
				return err
			}
			if p[0].Revents == 0 {
				return fmt.Errorf("%d bytes could not be queued again within 5 s", len(b))
			}
		default:
			return err
		}
	}
	return nil
}

// Negotiated is what a TCP handshake settled: tcp_info's TCPI_OPT_* bits,
// the window scales, the MSS (TCP_MAXSEG).
type Negotiated struct {
	Options, SndWscale, RcvWscale int
	MSS                           uint32
}

// ReadNegotiated reads a connected socket's Negotiated; the MSS is the
// clamp (as ReadConn reads it: TCP_MAXSEG in repair mode, entered and left
// for the purpose).
func ReadNegotiated(fd int) (Negotiated, error) {
	var n Negotiated
	raw := make([]byte, 8)
	if m, err := getsockopt(fd, unix.IPPROTO_TCP, unix.TCP_INFO, raw); err != nil || m < 7 {
		return n, fmt.Errorf("TCP_INFO: %v", err)
	}
	n.Options = int(raw[5])
	if n.Options&tcpiOptWscale != 0 {
		n.SndWscale, n.RcvWscale = int(raw[6]&0xf), int(raw[6]>>4)
	}
	if err := RepairOn(fd, true); err != nil {
		return n, err
	}
	mss, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	if e := RepairOff(fd); e != nil && err == nil {
		err = e
	}
	if err != nil {
		return n, fmt.Errorf("TCP_MAXSEG: %w", err)
	}
	n.MSS = uint32(mss)
	return n, nil
}

// Connect connects a TCP socket (blocking or not) within timeout.
func Connect(fd int, sa unix.Sockaddr, timeout time.Duration) error {
	err := unix.Connect(fd, sa)
	if err == nil {
		return nil
	}
	if err != unix.EINPROGRESS && err != unix.EINTR && err != unix.EALREADY {
		return fmt.Errorf("connect: %w", err)
	}
	if err := waitFd(fd, unix.POLLOUT, timeout); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || e != 0 {
		return fmt.Errorf("connect: %v", unix.Errno(e))
	}
	return nil
}

func waitFd(fd int, ev int16, timeout time.Duration) error {
	for {
		if timeout <= 0 {
			return fmt.Errorf("timed out")
		}
		t0 := time.Now()
		p := []unix.PollFd{{Fd: int32(fd), Events: ev}}
		n, err := unix.Poll(p, int(timeout.Milliseconds())+1)
		if err == unix.EINTR {
			timeout -= time.Since(t0)
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("timed out")
		}
		return nil
	}
}
