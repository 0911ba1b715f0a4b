package importer

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// console is stderr, shared by the progress bar and the lines written beside it (the log,
// dead letters): a line clears the bar, which the next update draws again below it.
type console struct {
	w   io.Writer
	tty bool

	mu  sync.Mutex
	bar *progressbar.ProgressBar // while it is shown
}

func newConsole(w io.Writer) *console {
	f, ok := w.(*os.File)
	return &console{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// Write writes p, one or more whole lines, above the bar.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		_ = c.bar.Clear()
	}
	return c.w.Write(p)
}

// progressEvery is how often the progress is logged when stderr is not a terminal;
// barEvery how often the bar is drawn on a terminal.
var (
	progressEvery = 5 * time.Second
	barEvery      = 100 * time.Millisecond
)

// meter counts the import's progress — files done of all, records, bytes of all — and shows
// it: a progress bar on a terminal (files, records, MB/s, ETA), else a log line every
// progressEvery.
type meter struct {
	c                       *console
	log                     *slog.Logger
	filesTotal              int
	bytesTotal              int64
	files, records, bytesIn atomic.Int64
	start                   time.Time
	stop                    chan struct{}
	done                    sync.WaitGroup
}

func newMeter(c *console, log *slog.Logger, files int, bytes int64) *meter {
	m := &meter{c: c, log: log, filesTotal: files, bytesTotal: bytes, start: time.Now(), stop: make(chan struct{})}
	every := progressEvery
	if c.tty {
		every = barEvery
		c.mu.Lock()
		// One more than the bytes: the bar is full once every file is done, not once every
		// byte is read (the last files' events and ledger rows are still being stored).
		c.bar = progressbar.NewOptions64(bytes+1,
			progressbar.OptionSetWriter(c.w),
			progressbar.OptionSetDescription(m.describe()),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(barEvery),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.w) }),
		)
		c.mu.Unlock()
	}
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.show()
			}
		}
	}()
	return m
}

func (m *meter) describe() string {
	return fmt.Sprintf("files %d/%d, %d records", m.files.Load(), m.filesTotal, m.records.Load())
}

// show draws the bar, or logs the progress.
func (m *meter) show() {
	if !m.c.tty {
		done, secs := m.bytesIn.Load(), time.Since(m.start).Seconds()
		rate := float64(done) / max(secs, 1e-9)
		eta := time.Duration(0)
		if rate > 0 {
			eta = time.Duration(float64(m.bytesTotal-done) / rate * float64(time.Second))
		}
		m.log.Info("import progress", "files_done", m.files.Load(), "files_total", m.filesTotal, "records", m.records.Load(),
			"mb_done", float64(done)/1e6, "mb_total", float64(m.bytesTotal)/1e6, "mb_per_s", rate/1e6, "eta", eta.Round(time.Second).String())
		return
	}
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.bar != nil {
		m.c.bar.Describe(m.describe())
		_ = m.c.bar.Set64(m.bytesIn.Load())
	}
}

// skip counts files done without reading them.
func (m *meter) skip(files int, bytes int64) {
	m.files.Add(int64(files))
	m.bytesIn.Add(bytes)
}

// file counts a file done, with the records it produced.
func (m *meter) file(records int) {
	m.files.Add(1)
	m.records.Add(int64(records))
}

// finish stops showing the progress; the bar is left as it ended.
func (m *meter) finish() {
	close(m.stop)
	m.done.Wait()
	m.show()
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.bar == nil {
		return
	}
	if m.bytesIn.Load() >= m.bytesTotal {
		_ = m.c.bar.Finish()
	} else {
		_ = m.c.bar.Exit()
	}
	m.c.bar = nil
}

// credit counts the bytes of one file into its meter as they are read, once however often
// the file is read, and all of it once the file is done.
type credit struct {
	meter      *meter
	size       int64
	given, cur int64
}

// start begins a read of the file.
func (c *credit) start() { c.cur = 0 }

func (c *credit) add(n int) {
	c.cur += int64(n)
	if d := min(c.cur, c.size) - c.given; d > 0 {
		c.meter.bytesIn.Add(d)
		c.given += d
	}
}

// rest counts what was not read of the file.
func (c *credit) rest() {
	if d := c.size - c.given; d > 0 {
		c.meter.bytesIn.Add(d)
		c.given = c.size
	}
}

// counting reads r, crediting what it reads.
type counting struct {
	r io.Reader
	c *credit
}

func (r *counting) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.add(n)
	return n, err
}
