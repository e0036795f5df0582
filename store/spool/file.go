package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// On disk: one file per record, named by its sequence number (20 digits, so
// names sort as numbers) with the suffix ".rec". A record is written to
// "<name>.tmp", synced, renamed and the directory synced before RecordCall
// returns: a crash leaves a whole record or a temporary file, never half a
// record under a final name. Records that will not apply go to dead/ with a
// "<name>.error" note saying why.
const (
	recSuffix = ".rec"
	tmpSuffix = ".tmp"
	errSuffix = ".error"
	deadDir   = "dead"
	version   = 1
)

// errCorrupt marks a file that is not a readable record.
var errCorrupt = errors.New("spool: corrupt record file")

// envelope is a record file: the record with what checks it.
type envelope struct {
	Version int             `json:"v"`
	Seq     uint64          `json:"seq"`
	Written time.Time       `json:"written"`
	CRC32   uint32          `json:"crc32"` // IEEE, of Record
	Record  json.RawMessage `json:"record"`
}

func fileName(seq uint64) string {
	return fmt.Sprintf("%020d%s", seq, recSuffix)
}

// parseName returns the sequence number of a record file name.
func parseName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, recSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

func encode(seq uint64, rec *CallRecord) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{
		Version: version,
		Seq:     seq,
		Written: time.Now().UTC(),
		CRC32:   crc32.ChecksumIEEE(body),
		Record:  body,
	})
}

func decode(data []byte) (*CallRecord, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if env.Version != version {
		return nil, fmt.Errorf("%w: version %d, want %d", errCorrupt, env.Version, version)
	}
	if crc32.ChecksumIEEE(env.Record) != env.CRC32 {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	var rec CallRecord
	if err := json.Unmarshal(env.Record, &rec); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if err := rec.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return &rec, nil
}

// writeRecord writes the record durably under its final name.
func writeRecord(dir string, seq uint64, rec *CallRecord) error {
	data, err := encode(seq, rec)
	if err != nil {
		return err
	}
	final := filepath.Join(dir, fileName(seq))
	return writeDurably(dir, final, data)
}

// writeDurably writes data to path through a synced temporary file and a
// rename, then syncs dir so the rename survives a crash.
func writeDurably(dir, path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: a path the spool made inside its own directory
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // G304: the spool's own directory, from its config
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func readRecord(dir string, seq uint64) (*CallRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, fileName(seq))) //nolint:gosec // G304: a name the spool made from a number, in its own directory
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return decode(data)
}

// load queues the records found in the directory. A temporary file that
// holds a whole record (the process died between its sync and its rename)
// is completed; anything else that is not a record goes to dead/.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if seq, ok := parseName(name); ok {
			s.queue = append(s.queue, seq)
			s.seq = max(s.seq, seq+1)
			continue
		}
		if base, ok := strings.CutSuffix(name, tmpSuffix); ok {
			if seq, ok := parseName(base); ok {
				if s.recoverTmp(name, base) {
					s.queue = append(s.queue, seq)
					s.seq = max(s.seq, seq+1)
				}
				continue
			}
		}
		s.deadLetterFile(name, fmt.Errorf("%w: not a record file name", errCorrupt))
	}
	slices.Sort(s.queue)
	return nil
}

func (s *Spool) recoverTmp(tmp, final string) bool {
	data, err := os.ReadFile(filepath.Join(s.dir, tmp)) //nolint:gosec // G304: a file of the spool's own directory listing
	if err == nil {
		_, err = decode(data)
	}
	if err == nil {
		err = os.Rename(filepath.Join(s.dir, tmp), filepath.Join(s.dir, final))
	}
	if err != nil {
		s.deadLetterFile(tmp, fmt.Errorf("%w: an unfinished write: %w", errCorrupt, err))
		return false
	}
	return true
}

// deadLetterFile moves a file of the spool directory to dead/, with a note
// of why. It logs: the record needs a person now.
func (s *Spool) deadLetterFile(name string, why error) {
	dst := uniqueName(filepath.Join(s.dead, name))
	err := os.Rename(filepath.Join(s.dir, name), dst)
	if err == nil {
		err = writeNote(dst, why)
	}
	s.m.dead.Inc()
	if err != nil {
		s.log.Error("spool: a record cannot be applied, and could not be moved aside",
			"file", name, "reason", why.Error(), "err", err)
		return
	}
	s.log.Error("spool: a record cannot be applied; moved aside", "file", dst, "reason", why.Error())
}

// deadLetterRecord writes a record that was never spooled straight to dead/.
func (s *Spool) deadLetterRecord(rec *CallRecord, why error) (string, error) {
	s.mu.Lock()
	seq := s.seq
	s.seq++
	s.mu.Unlock()
	data, err := encode(seq, rec)
	if err != nil {
		return "", err
	}
	dst := uniqueName(filepath.Join(s.dead, fileName(seq)))
	if err := writeDurably(s.dead, dst, data); err != nil {
		return "", err
	}
	s.m.dead.Inc()
	return dst, writeNote(dst, why)
}

func writeNote(path string, why error) error {
	note := fmt.Sprintf("%s\n%s\n", time.Now().UTC().Format(time.RFC3339), why)
	return os.WriteFile(path+errSuffix, []byte(note), 0o600)
}

// uniqueName is path, or path with a counter if something is there already.
func uniqueName(path string) string {
	p := path
	for i := 1; ; i++ {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
		p = fmt.Sprintf("%s.%d", path, i)
	}
}
