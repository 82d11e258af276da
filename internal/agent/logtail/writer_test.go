package logtail

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The log writer runs in its own process (this test binary, re-executed
// with LOGTAIL_WRITER set), so the module sees what a real program and a
// real logrotate do to files: writes from another process, renames and
// truncations at any moment.

const writerEnv = "LOGTAIL_WRITER"

// writerSpec configures the writer process (passed as JSON in the env).
type writerSpec struct {
	Path  string        `json:"path"`
	Lines int           `json:"lines"`
	Every int           `json:"every"` // rotate after this many lines
	Mode  string        `json:"mode"`  // rename, copytruncate, copytruncate-pause
	Burst int           `json:"burst"` // lines between pauses
	Sleep time.Duration `json:"sleep"` // the pause
	// Gap is a wait between the copy and the truncation (copytruncate),
	// as a slow copy of a big file would make: what is written then is
	// lost.
	Gap time.Duration `json:"gap"`
}

// window is a range of sequence numbers (lo, hi] written while a
// copytruncate was between its copy and its truncation.
type window struct{ Lo, Hi int }

func TestMain(m *testing.M) {
	if spec := os.Getenv(writerEnv); spec != "" {
		var s writerSpec
		if err := json.Unmarshal([]byte(spec), &s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := runWriter(s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// seqLine is line number seq: its number and some padding, so lines are
// of a realistic length.
func seqLine(seq int) string {
	return fmt.Sprintf("seq=%08d level=INFO msg=\"request handled\" padding=%s\n", seq, "abcdefghijklmnopqrstuvwxyz0123456789"[:seq%37])
}

func parseSeq(body string) (int, bool) {
	if len(body) < 12 || body[:4] != "seq=" {
		return 0, false
	}
	n, err := strconv.Atoi(body[4:12])
	if err != nil || body != seqLine(n)[:len(seqLine(n))-1] {
		return 0, false
	}
	return n, true
}

func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// shiftRotated renames path.N to path.N+1, oldest first, as logrotate
// does; nothing is deleted, so every line stays somewhere.
func shiftRotated(path string, n int) error {
	for k := n; k >= 1; k-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", path, k), fmt.Sprintf("%s.%d", path, k+1)); err != nil {
			return err
		}
	}
	return nil
}

func runWriter(s writerSpec) error {
	f, err := openAppend(s.Path)
	if err != nil {
		return err
	}
	var (
		last      atomic.Int64 // last sequence number whose write returned
		rotations int
		windows   []window
		mu        sync.Mutex // serialises rotations
		wg        sync.WaitGroup
		rotErr    atomic.Value
	)
	copyTruncate := func() {
		mu.Lock()
		defer mu.Unlock()
		if err := shiftRotated(s.Path, rotations); err != nil {
			rotErr.Store(err)
			return
		}
		rotations++
		lo := int(last.Load())
		if err := copyFile(s.Path, s.Path+".1"); err != nil {
			rotErr.Store(err)
			return
		}
		time.Sleep(s.Gap)
		if err := os.Truncate(s.Path, 0); err != nil {
			rotErr.Store(err)
			return
		}
		// +1: a write in flight when the truncation happened may have
		// landed before it without being counted yet.
		hi := int(last.Load()) + 1
		if hi > lo+1 || s.Mode == "copytruncate" {
			windows = append(windows, window{lo, hi})
		}
	}
	buf := make([]byte, 0, 1<<16)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := f.Write(buf)
		buf = buf[:0]
		return err
	}
	for seq := 1; seq <= s.Lines; seq++ {
		line := seqLine(seq)
		if s.Mode == "copytruncate" {
			// One write per line, so a concurrent copy and truncation
			// fall between lines, as with a real application.
			if _, err := f.WriteString(line); err != nil {
				return err
			}
			last.Store(int64(seq))
		} else {
			buf = append(buf, line...)
			if len(buf) > 60_000 {
				// Flushing at any byte, not at line ends: the module must
				// cope with lines arriving in parts.
				cut := len(buf) - 7
				if _, err := f.Write(buf[:cut]); err != nil {
					return err
				}
				buf = append(buf[:0], buf[cut:]...)
			}
		}
		if seq%s.Every == 0 && seq < s.Lines {
			switch s.Mode {
			case "rename":
				if err := flush(); err != nil {
					return err
				}
				f.Close()
				if err := shiftRotated(s.Path, rotations); err != nil {
					return err
				}
				if err := os.Rename(s.Path, s.Path+".1"); err != nil {
					return err
				}
				rotations++
				if f, err = openAppend(s.Path); err != nil {
					return err
				}
			case "copytruncate-pause":
				if err := flush(); err != nil {
					return err
				}
				copyTruncate()
			case "copytruncate":
				wg.Add(1)
				go func() {
					defer wg.Done()
					copyTruncate()
				}()
			}
		}
		if s.Burst > 0 && seq%s.Burst == 0 {
			if err := flush(); err != nil {
				return err
			}
			time.Sleep(s.Sleep)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	wg.Wait()
	if err, _ := rotErr.Load().(error); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, _ := json.Marshal(windows)
	return os.WriteFile(s.Path+".windows", out, 0o644)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// startWriter runs the writer process; wait returns its error.
func startWriter(t *testing.T, s writerSpec) (wait func() error) {
	t.Helper()
	spec, _ := json.Marshal(s)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.StartProcess(exe, []string{exe, "-test.run=^$"}, &os.ProcAttr{
		Env:   append(os.Environ(), writerEnv+"="+string(spec)),
		Files: []*os.File{nil, os.Stdout, os.Stderr},
	})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var werr error
	wait = func() error {
		once.Do(func() {
			st, err := p.Wait()
			switch {
			case err != nil:
				werr = err
			case !st.Success():
				werr = fmt.Errorf("writer: %s", st)
			}
		})
		return werr
	}
	t.Cleanup(func() {
		_ = p.Kill()
		_ = wait()
	})
	return wait
}

func readWindows(t *testing.T, path string) []window {
	t.Helper()
	b, err := os.ReadFile(path + ".windows")
	if err != nil {
		t.Fatal(err)
	}
	var w []window
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	return w
}
