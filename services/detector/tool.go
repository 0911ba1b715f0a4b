package detector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/rules/sigma"
	"github.com/trailstream/trailstream/services/normalizer"
)

// Tool is `trailstream detect [FILE ...]`: it reads and normalizes records as `trailstream
// normalize` does (files or stdin, the same formats, the same reports of bad input on
// stderr), runs every rule the rules config enables over them in input order, with the same
// code as the detector service, and writes one detection a line to stdout as JSON (keys:
// the Avro field names of schemas/detection.avsc). Normalizing and the rules run side by
// side, handing over events in batches.
func Tool(ctx context.Context, cfg config.Config, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rs, err := Rules(cfg)
	if err != nil {
		return err
	}
	engine := rules.NewEngine(rs)
	batches := make(chan []*model.Event, toolBatches)
	free := make(chan []*model.Event, toolBatches+2)
	done, failed := make(chan error, 1), make(chan struct{})
	go func() {
		done <- detectBatches(engine, batches, free, failed, stdout)
	}()
	batch := make([]*model.Event, 0, toolBatch)
	handOver := func() error {
		select {
		case batches <- batch:
		case <-failed: // a write failed: its error comes from done
			return errStopped
		}
		select {
		case batch = <-free:
		default:
			batch = make([]*model.Event, 0, toolBatch)
		}
		return nil
	}
	err = normalizer.Events(ctx, cfg, files, stdin, stderr, func(e *model.Event) error {
		if batch = append(batch, e); len(batch) == toolBatch {
			return handOver()
		}
		return nil
	})
	if len(batch) > 0 && err == nil {
		err = handOver()
	}
	close(batches)
	if errors.Is(err, errStopped) {
		err = nil
	}
	return errors.Join(err, <-done)
}

// errStopped stops reading when the detections cannot be written.
var errStopped = errors.New("output failed")

// toolBatch is the number of events Tool hands over at once, and toolBatches the number of
// batches in flight: memory stays a few thousand events.
const toolBatch, toolBatches = 256, 4

// detectBatches runs the events of batches through engine in order, offsets counted from 0,
// writes the detections to w, and returns each batch to free. After a write error it closes
// failed and drains batches.
func detectBatches(engine *rules.Engine, batches <-chan []*model.Event, free chan<- []*model.Event, failed chan<- struct{}, w io.Writer) error {
	out := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	var err error
	offset := int64(0)
	for batch := range batches {
		for _, e := range batch {
			if err != nil {
				break
			}
			for _, d := range engine.Observe(e, rules.Position{Offset: offset}) {
				buf = append(d.AppendJSON(buf[:0]), '\n')
				if _, err = out.Write(buf); err != nil {
					close(failed)
					break
				}
			}
			offset++
		}
		clear(batch)
		select {
		case free <- batch[:0]:
		default:
		}
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

// Rules returns the rules cfg enables: every built-in rule and the Sigma rules of
// cfg.SigmaRules, with the settings of the rules config file cfg.RulesConfig when one is
// given. Sigma rules that do not load are logged, and the others run.
func Rules(cfg config.Config) ([]rules.Rule, error) {
	_, builtin, sig, err := ruleSets(cfg, slog.Default())
	return append(builtin, sig...), err
}

// ruleSets returns the rules config of cfg, the built-in rules it enables and the Sigma
// rules of cfg.SigmaRules.
func ruleSets(cfg config.Config, log *slog.Logger) (rc *rules.Config, builtin, sig []rules.Rule, err error) {
	if rc, err = RulesConfig(cfg); err != nil {
		return nil, nil, nil, err
	}
	if builtin, err = rules.New(rc); err != nil {
		return nil, nil, nil, err
	}
	if sig, _, err = SigmaRules(cfg, rc, log); err != nil {
		return nil, nil, nil, err
	}
	return rc, builtin, sig, nil
}

// RulesConfig returns the rules config of cfg: its file's, with --home-countries when the
// file sets none.
func RulesConfig(cfg config.Config) (*rules.Config, error) {
	rc := &rules.Config{}
	if cfg.RulesConfig != "" {
		var err error
		if rc, err = rules.LoadConfig(cfg.RulesConfig); err != nil {
			return nil, err
		}
	}
	if rc.HomeCountries == nil {
		home, err := cfg.HomeCountryList()
		if err != nil {
			return nil, err
		}
		rc.HomeCountries = home
	}
	return rc, nil
}

// SigmaRules loads the Sigma rules of cfg.SigmaRules, configured by rc, and logs each that
// did not load. The error is for a path that cannot be read.
func SigmaRules(cfg config.Config, rc *rules.Config, log *slog.Logger) ([]rules.Rule, sigma.Report, error) {
	if len(cfg.SigmaRules) == 0 {
		return nil, sigma.Report{}, nil
	}
	loaded, rep, err := sigma.Load(cfg.SigmaRules, SigmaOptions(cfg, rc))
	if err != nil {
		return nil, rep, fmt.Errorf("--sigma-rules: %w", err)
	}
	for _, p := range rep.Problems {
		log.Warn("Sigma rule not loaded", "file", p.File, "line", p.Line, "rule", p.RuleID, "title", p.Title, "reason", p.Reason)
	}
	log.Info("Sigma rules loaded", "paths", cfg.SigmaRules, "files", rep.Files, "loaded", len(rep.Loaded), "parts", len(rep.Parts),
		"failed", len(rep.Problems), "ignored", rep.Ignored, "skipped", rep.Skipped)
	return rules.Configure(rc, loaded), rep, nil
}

// SigmaOptions are the options Sigma rules load with: the default statuses and those of
// --sigma-status, the placeholders of the rules config.
func SigmaOptions(cfg config.Config, rc *rules.Config) sigma.Options {
	o := sigma.Options{Placeholders: rc.Placeholders}
	if len(cfg.SigmaStatuses) > 0 {
		o.Statuses = append(slices.Clone(sigma.DefaultStatuses), cfg.SigmaStatuses...)
	}
	return o
}
