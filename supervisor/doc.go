// Package supervisor owns the run loop: the launch topology (PID and mount
// namespaces under crrun's own init), the seccomp notification loop and the NOCR
// ledger, the triggers (signals, control socket) and exit-status propagation.
package supervisor
