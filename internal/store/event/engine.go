package event

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	vmlogger "github.com/VictoriaMetrics/VictoriaMetrics/lib/logger"
)

// The storage engine keeps process-wide state that we cannot scope to one
// Store: its settings are package-level flags on flag.CommandLine, its cache
// budget is computed once per process (lib/memory uses sync.Once), and its
// logger writes to one global writer. This file is the only place that
// touches that state. Consequences, by design:
//   - the first Open decides the memory cap; later Opens with a different
//     MaxMemoryBytes log a warning and share the first cap;
//   - engine log lines go to the logger of the most recently opened Store;
//   - one directory can be open once per process (the engine would panic
//     on its flock file); a second Open of the same Dir returns an error,
//     while any number of Stores on different directories may be open.
var engine struct {
	once     sync.Once
	initErr  error
	memBytes int64

	mu   sync.Mutex
	dirs map[string]bool // absolute dirs currently open

	log atomic.Pointer[slog.Logger]
}

func initEngine(memBytes int64, log *slog.Logger) error {
	engine.log.Store(log)
	engine.once.Do(func() {
		engine.memBytes = memBytes
		engine.initErr = func() (err error) {
			defer recoverAsError(&err, "configure storage engine")
			// lib/memory refuses to size caches before flags are parsed. When
			// the program uses its own FlagSet, CommandLine is never parsed;
			// parsing an empty argument list only marks it parsed, so a later
			// flag.Parse() by main still works.
			if !flag.Parsed() {
				if err := flag.CommandLine.Parse([]string{}); err != nil {
					return fmt.Errorf("mark engine flags parsed: %w", err)
				}
			}
			settings := []struct{ name, value string }{
				// Without this the engine sizes its caches to 60% of RAM.
				{"memory.allowedBytes", strconv.FormatInt(memBytes, 10)},
			}
			for _, s := range settings {
				if flag.Lookup(s.name) == nil {
					return fmt.Errorf("engine flag -%s not registered; engine version changed?", s.name)
				}
				if err := flag.Set(s.name, s.value); err != nil {
					return fmt.Errorf("set engine flag -%s=%s: %w", s.name, s.value, err)
				}
			}
			// The engine offers no other hook for its log output.
			vmlogger.SetOutputForTests(engineLogWriter{})
			return nil
		}()
	})
	if engine.initErr == nil && memBytes != engine.memBytes {
		log.Warn("event store: engine memory cap is process-wide; keeping the first Open's value",
			"requested_bytes", memBytes, "effective_bytes", engine.memBytes)
	}
	return engine.initErr
}

func claimDir(dir string) error {
	engine.mu.Lock()
	defer engine.mu.Unlock()
	if engine.dirs == nil {
		engine.dirs = make(map[string]bool)
	}
	if engine.dirs[dir] {
		return fmt.Errorf("event store %s is already open in this process", dir)
	}
	engine.dirs[dir] = true
	return nil
}

func releaseDir(dir string) {
	engine.mu.Lock()
	delete(engine.dirs, dir)
	engine.mu.Unlock()
}

// engineLogWriter turns the engine's tab-separated log lines
// ("time\tlevel\tcaller\tmessage\n") into slog records.
type engineLogWriter struct{}

func (engineLogWriter) Write(p []byte) (int, error) {
	log := engine.log.Load()
	if log == nil {
		return len(p), nil
	}
	line := bytes.TrimRight(p, "\n")
	parts := bytes.SplitN(line, []byte{'\t'}, 4)
	level, caller, msg := slog.LevelInfo, "", string(line)
	if len(parts) == 4 {
		caller, msg = string(parts[2]), string(parts[3])
		switch string(parts[1]) {
		case "info":
			// The engine is chatty about merges and snapshots; that is
			// debugging detail for us.
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		default:
			level = slog.LevelError
		}
	}
	log.Log(context.Background(), level, "event engine: "+msg, "caller", caller)
	return len(p), nil
}

// errEnginePanic marks errors converted from an engine panic.
var errEnginePanic = errors.New("storage engine panic")

// recoverAsError converts a panic from the engine's Must* calls into an
// error. It must be called directly by defer.
func recoverAsError(err *error, what string) {
	if r := recover(); r != nil {
		if l := engine.log.Load(); l != nil {
			l.Error("event store: engine panic", "op", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		*err = fmt.Errorf("%s: %w: %v", what, errEnginePanic, r)
	}
}
