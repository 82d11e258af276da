package logtail

import "time"

// joiner gathers the lines of one file into multi-line records: a line
// matching the start pattern begins a record and every other line is
// appended to the record in progress (a file that begins with such lines
// gets a record of them too). A record ends when the next start arrives,
// when its last line is older than the timeout (the writer may never log
// again), or when it reaches the line or byte limit; a record cut by a
// limit and the rest that follows it are both marked truncated.
//
// While a record is in progress its start offset is the file's safe
// offset: a restart re-reads the record whole rather than sending half.
type joiner struct {
	spec   *multilineSpec
	buf    []byte
	lines  int
	start  int64     // file offset of the record's first line
	last   time.Time // when the last line was added
	active bool
	cut    bool
}

// emitFunc receives a finished record; body is only valid during the call.
type emitFunc func(body []byte, off int64, truncated bool)

func (j *joiner) add(line []byte, off int64, now time.Time, truncated bool, out emitFunc) {
	if !j.active {
		j.begin(line, off, now, truncated)
		return
	}
	isStart := j.spec.start.Match(line)
	full := j.lines >= j.spec.maxLines || len(j.buf)+1+len(line) > MaxRecordBytes
	if !isStart && !full {
		j.buf = append(j.buf, '\n')
		j.buf = append(j.buf, line...)
		j.lines++
		j.last = now
		j.cut = j.cut || truncated
		return
	}
	split := full && !isStart
	out(j.buf, j.start, j.cut || split)
	j.begin(line, off, now, truncated || split)
}

func (j *joiner) begin(line []byte, off int64, now time.Time, truncated bool) {
	j.buf = append(j.buf[:0], line...)
	j.lines = 1
	j.start = off
	j.last = now
	j.active = true
	j.cut = truncated
}

// flush ends the record in progress, if any.
func (j *joiner) flush(out emitFunc) {
	if !j.active {
		return
	}
	j.active = false
	out(j.buf, j.start, j.cut)
	j.buf = j.buf[:0]
}

// expired reports a record in progress whose last line is older than the
// timeout.
func (j *joiner) expired(now time.Time) bool {
	return j.active && now.Sub(j.last) >= j.spec.timeout
}
