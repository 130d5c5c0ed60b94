package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	late   *lateUploads // Options.LateUploads; nil without
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
		if m.late != nil {
			m.late.write(m, b)
		} else {
			m.out.write(b)
		}
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
	if m.late != nil {
		m.out.write(m.late.pending[m.outDay])
		m.late.pending[m.outDay] = nil
	}
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

// lateUploads writes a share of the messages to the file of a later day than their
// event, the way institutions upload in batches hours or days after the sale (so that
// a cancel can come in a file before the sale it cancels), and withdraws a few sale
// rows with a 3507 (进销存数据删除) to upload the same row again under a new msgid. The
// messages keep their content: only the file they are in changes, and a re-upload
// carries the envelope time (inf_time, msgid) of its upload. Its draws come from a
// stream of its own, so the rest of the province stays as without the option.
type lateUploads struct {
	permille  int
	days      int
	r         *rng
	clk       *clock
	pending   [][]byte        // per day: what is uploaded at its end
	keep      map[string]bool // msgids never withdrawn (the malformed_message cases)
	issued    map[string]bool // msgids of the withdrawals and re-uploads
	late      int             // messages written to a later day's file
	withdrawn int             // 3505 rows withdrawn and uploaded again
	// offline reports an institution (fixmedins_code) whose uploads are down on a day
	// (upload_outage): no withdrawal is made then.
	offline func(code string, day int) bool
}

func newLateUploads(o *resolved) *lateUploads {
	return &lateUploads{permille: o.LateUploads, days: o.Days, r: newRNG(o.Seed, streamLate),
		clk: newClock(o.startDay, o.Days), pending: make([][]byte, o.Days),
		keep: map[string]bool{}, issued: map[string]bool{}}
}

// write places the messages of bucket b, all of day m.outDay: each in today's file or,
// at the rate, at the end of the file of one to three days later (never past the last
// day); a sale row now and then is withdrawn and uploaded again a day or two after
// the file it came in.
func (lu *lateUploads) write(m *messages, b []byte) {
	day := m.outDay
	for len(b) > 0 {
		n := bytes.IndexByte(b, '\n') + 1
		if n == 0 {
			n = len(b)
		}
		msg := b[:n]
		b = b[n:]
		file := day
		if lu.r.permille(lu.permille) {
			file = min(day+1+lu.r.intn(3), lu.days-1)
		}
		// Withdrawals: a twentieth of the rate, of the sale rows.
		if bytes.HasPrefix(msg, []byte(infnoHeads[m3505])) && lu.r.permille(max(lu.permille/20, 1)) {
			if again := file + 1 + lu.r.intn(2); again < lu.days && (lu.offline == nil || !lu.offline(string(msg[len(infnoHeads[m3505]):min(len(msg), len(infnoHeads[m3505])+12)]), again)) {
				msg = lu.withdraw(msg, again)
			}
		}
		if file == day {
			m.out.write(msg)
		} else {
			lu.pending[file] = append(lu.pending[file], msg...)
			lu.late++
		}
	}
}

// withdraw queues, at the end of the file of day again, a 3507 deleting the sale row of
// msg and the same row uploaded again, both at msg's time of day on that day, and
// returns the row to upload first. A 3507 withdraws every row of the institution with
// its fixmedins_bchno uploaded before it (docs/ledger.md), so the row withdrawn carries a
// fixmedins_bchno of its own, as vendors that number each uploaded row (流水号) send: its
// batch number with -W and a sequence. When the row cannot be withdrawn, msg is returned
// as it is.
func (lu *lateUploads) withdraw(msg []byte, again int) []byte {
	head := len(infnoHeads[m3505])
	if len(msg) < head+30 {
		return msg
	}
	msgid := string(msg[head : head+30])
	if lu.keep[msgid] {
		return msg
	}
	// msgid: institution (12), yyyymmddHHMMSS, sequence (4). The new ones put a letter
	// where the sequence starts, so no generated msgid can equal them.
	inst, clock, seq := msgid[:12], msgid[20:26], msgid[27:30]
	stamp := string(lu.clk.compact[again]) + clock
	del, re := inst+stamp+"D"+seq, inst+stamp+"R"+seq
	if lu.issued[del] || lu.issued[re] {
		return msg
	}
	const bkey = `"fixmedins_bchno":"`
	bchno := field(msg, bkey)
	infTime := field(msg, `"inf_time":"`)
	envEnd := bytes.Index(msg, []byte(`"input":`))
	if bchno == nil || len(infTime) != 19 || envEnd < 0 {
		return msg
	}
	lu.issued[del], lu.issued[re] = true, true
	own := fmt.Sprintf("%s-W%d", bchno, lu.withdrawn+1)
	msg = bytes.Replace(msg, []byte(bkey+string(bchno)+`"`), []byte(bkey+own+`"`), 1)
	envEnd = bytes.Index(msg, []byte(`"input":`))
	newTime := string(lu.clk.dash[again]) + string(infTime[10:])
	envelope := bytes.Replace(msg[head+30:envEnd], []byte(`"inf_time":"`+string(infTime)), []byte(`"inf_time":"`+newTime), 1)

	p := lu.pending[again]
	p = append(p, `{"infno":"3507","msgid":"`...)
	p = append(p, del...)
	p = append(p, envelope...)
	p = append(p, `"input":{"data":{"fixmedins_bchno":"`...)
	p = append(p, own...)
	p = append(p, `","inv_data_type":"4"}}}`+"\n"...)
	p = append(p, infnoHeads[m3505]...)
	p = append(p, re...)
	p = append(p, envelope...)
	p = append(p, msg[envEnd:]...)
	lu.pending[again] = p
	lu.withdrawn++
	return msg
}

// field returns the text value after key in msg (nil when absent).
func field(msg []byte, key string) []byte {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return nil
	}
	v := msg[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}
