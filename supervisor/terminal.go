package supervisor

import (
	"fmt"
	"log/slog"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// crrun's terminal as the app leaves it: an app on crrun's terminal may
// change its mode (raw input, no echo, a password prompt) and relies on it
// staying so. The checkpoint records the mode and size (image.Terminal);
// a restore on a terminal sets the mode again before the app runs and
// reads it back (a difference refuses the restore), and sends the app's
// foreground group SIGWINCH when the new terminal's size differs, as a
// resize would. A restore without a terminal gives the app the restorer's
// stdio as it is (docs/design.md, "Files"). And when crrun ends the app
// itself (checkpoint --exit), it sets back the mode it found at its start:
// the app had no chance to.

// stdioTerminal is the first of crrun's stdin, stdout and stderr that is
// a terminal, or -1, with its mode.
func stdioTerminal() (int, *unix.Termios) {
	for fd := range 3 {
		if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			return fd, t
		}
	}
	return -1, nil
}

// terminalState reads crrun's terminal's mode and size (nil: no terminal).
func terminalState() *image.Terminal {
	fd, t := stdioTerminal()
	if fd < 0 {
		return nil
	}
	tm := &image.Terminal{Termios: *image.TermiosOf(t)}
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
		tm.Rows, tm.Cols = ws.Row, ws.Col
	}
	return tm
}

// applyTerminal sets the mode of the image's terminal on crrun's
// terminal, before the restored app runs, and reads it back.
func applyTerminal(saved *image.Terminal) error {
	if saved == nil {
		return nil
	}
	fd, _ := stdioTerminal()
	if fd < 0 {
		slog.Info("restore: no terminal here: the app's terminal mode of the checkpoint does not apply (its stdio is this crrun's)")
		return nil
	}
	// SIGTTOU is ignored by crrun: a restore in the background sets it too.
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, saved.Termios.Unix()); err != nil {
		return fmt.Errorf("restore: set the terminal's mode the app had left (fd %d): %w", fd, err)
	}
	now := terminalState()
	if now == nil {
		return fmt.Errorf("restore: read back the terminal's mode (fd %d)", fd)
	}
	if d := saved.Termios.Diff(&now.Termios); d != "" {
		return fmt.Errorf("restore: this terminal does not take the mode the app had left on its terminal (%s): restore on another terminal, or without one", d)
	}
	return nil
}

// winchIfResized sends SIGWINCH to the terminal's foreground group, when
// it is not crrun's (the restored app's), if the terminal's size is not
// the one the app saw at the checkpoint.
func winchIfResized(saved *image.Terminal) {
	now := terminalState()
	if saved == nil || now == nil || (now.Rows == saved.Rows && now.Cols == saved.Cols) {
		return
	}
	fd, _ := stdioTerminal()
	pg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || pg <= 0 || pg == unix.Getpgrp() {
		return
	}
	slog.Debug("restore: the terminal's size differs from the checkpoint's: SIGWINCH", "saved", fmt.Sprintf("%dx%d", saved.Rows, saved.Cols),
		"now", fmt.Sprintf("%dx%d", now.Rows, now.Cols), "pgrp", pg)
	_ = unix.Kill(-pg, unix.SIGWINCH)
}

// resetTerminal sets back the terminal mode crrun found at its start
// (startTerm), after crrun ended the app itself.
func (s *Supervisor) resetTerminal() {
	if s.startTerm == nil {
		return
	}
	if fd, _ := stdioTerminal(); fd >= 0 {
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, s.startTerm.Termios.Unix())
	}
}
