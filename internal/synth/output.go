package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Sink receives the files Generate writes. name is a slash-separated path relative to
// the output root ("reference/drugs.csv", "messages/0001-2025-07-01.jsonl").
type Sink interface {
	Create(name string) (io.WriteCloser, error)
}

// Dir is a Sink that writes under a directory, creating subdirectories as needed.
type Dir string

// Create creates (or truncates) the file name under d.
func (d Dir) Create(name string) (io.WriteCloser, error) {
	p := filepath.Join(string(d), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}

// Discard is a Sink that keeps nothing; the manifest still lists every file with its
// size and digest (benchmarks use it).
var Discard Sink = discard{}

type discard struct{}

func (discard) Create(string) (io.WriteCloser, error) { return nopCloser{io.Discard}, nil }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// File is one file written: its path relative to the output root, its size and the
// lowercase hex SHA-256 of its content.
type File struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// chunkSize is the unit handed to a file's writer goroutine.
const chunkSize = 1 << 20

// fileOut streams a file through a goroutine of its own that hashes and writes it in
// chunks, so that generation and I/O overlap on two cores. Byte order is kept: chunks
// travel through one channel to one goroutine.
type fileOut struct {
	path string
	w    io.WriteCloser
	buf  []byte
	size int64
	h    hash.Hash
	ch   chan []byte
	done chan error
}

func createFile(s Sink, path string) (*fileOut, error) {
	w, err := s.Create(path)
	if err != nil {
		return nil, err
	}
	f := &fileOut{path: path, w: w, h: sha256.New(), ch: make(chan []byte, 4), done: make(chan error, 1)}
	f.buf = getChunk()
	go func() {
		var werr error
		for c := range f.ch {
			f.h.Write(c)
			if werr == nil {
				_, werr = f.w.Write(c)
			}
			putChunk(c)
		}
		f.done <- werr
	}()
	return f, nil
}

// write appends a copy of b; it never fails (errors surface at close).
func (f *fileOut) write(b []byte) {
	if len(f.buf)+len(b) > cap(f.buf) && len(f.buf) > 0 {
		f.ch <- f.buf
		f.buf = getChunk()
	}
	f.buf = append(f.buf, b...)
	f.size += int64(len(b))
}

// chunks is a pool of chunk buffers shared by the files (a new file starts every
// simulated day).
var chunks = make(chan []byte, 16)

func getChunk() []byte {
	select {
	case b := <-chunks:
		return b
	default:
		return make([]byte, 0, chunkSize)
	}
}

func putChunk(b []byte) {
	if cap(b) != chunkSize {
		return
	}
	select {
	case chunks <- b[:0]:
	default:
	}
}

// close flushes and closes the file and returns its record.
func (f *fileOut) close() (File, error) {
	if len(f.buf) > 0 {
		f.ch <- f.buf
	} else {
		putChunk(f.buf)
	}
	f.buf = nil
	close(f.ch)
	err := <-f.done
	if cerr := f.w.Close(); err == nil {
		err = cerr
	}
	return File{Path: f.path, Bytes: f.size, SHA256: hex.EncodeToString(f.h.Sum(nil))}, err
}

// messages orders the rendered messages by time and writes them to one file per day.
// Every message is rendered with a time no earlier than the event that made it and at
// most horizon seconds later, and events are handled in time order: so a ring of
// one-second buckets orders them, and a bucket can be written as soon as the next
// event is later than it. Within a second, messages keep the order they were made in.
type messages struct {
	sink   Sink
	days   int
	name   func(day int) string
	ring   [horizon][]byte
	cur    int64 // the first second not yet written
	out    *fileOut
	outDay int
	files  []File
	err    error
}

// horizon bounds how far after its event a message may be timed (seconds).
const horizon = 1024

// at returns the bucket of second t, to append one message to; put it back with set.
func (m *messages) at(t int64) []byte {
	if t < m.cur || t >= m.cur+horizon {
		panic("synth: message time outside the ordering window") // a bug in the simulation
	}
	return m.ring[t%horizon]
}

func (m *messages) set(t int64, b []byte) { m.ring[t%horizon] = b }

// flushBefore writes every message earlier than t.
func (m *messages) flushBefore(t int64) {
	for ; m.cur < t; m.cur++ {
		i := m.cur % horizon
		b := m.ring[i]
		if len(b) == 0 {
			continue
		}
		m.openDay(int(m.cur / 86400))
		m.out.write(b)
		if cap(b) > 64<<10 {
			b = nil // a burst (the stocktakes): let it go
		}
		m.ring[i] = b[:0]
	}
}

// openDay makes the file of day current, creating the files of the days before it.
func (m *messages) openDay(day int) {
	for m.out == nil || m.outDay < day {
		next := 0
		if m.out != nil {
			next = m.outDay + 1
			m.closeCur()
		}
		f, err := createFile(m.sink, m.name(next))
		if err != nil {
			if m.err == nil {
				m.err = err
			}
			f, _ = createFile(Discard, m.name(next)) // keep going; the error is reported at the end
		}
		m.out, m.outDay = f, next
	}
}

func (m *messages) closeCur() {
	rec, err := m.out.close()
	if err != nil && m.err == nil {
		m.err = err
	}
	m.files = append(m.files, rec)
	m.out = nil
}

// finish writes what is left and creates the files of the remaining days.
func (m *messages) finish() ([]File, error) {
	m.flushBefore(int64(m.days) * 86400)
	m.openDay(m.days - 1)
	m.closeCur()
	return m.files, m.err
}
