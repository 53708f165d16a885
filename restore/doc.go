// Package restore rebuilds a checkpointed process from an image inside a stub
// process the supervisor launched, with its PID, TIDs, memory, registers,
// signals and files, and hands it back running. It parses no flags.
package restore
