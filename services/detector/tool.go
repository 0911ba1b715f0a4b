package detector

import (
	"bufio"
	"context"
	"io"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/services/normalizer"
)

// Tool is `trailstream detect [FILE ...]`: it reads and normalizes records as `trailstream
// normalize` does (files or stdin, the same formats, the same reports of bad input on
// stderr), runs every rule the rules config enables over them in input order, with the same
// code as the detector service, and writes one detection a line to stdout as JSON (keys:
// the Avro field names of schemas/detection.avsc).
func Tool(ctx context.Context, cfg config.Config, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rs, err := Rules(cfg)
	if err != nil {
		return err
	}
	engine := rules.NewEngine(rs)
	out := bufio.NewWriterSize(stdout, 64<<10)
	var buf []byte
	offset := int64(0)
	err = normalizer.Events(ctx, cfg, files, stdin, stderr, func(e *model.Event) error {
		for _, d := range engine.Observe(e, rules.Position{Offset: offset}) {
			buf = append(d.AppendJSON(buf[:0]), '\n')
			if _, err := out.Write(buf); err != nil {
				return err
			}
		}
		offset++
		return nil
	})
	if ferr := out.Flush(); ferr != nil {
		return ferr
	}
	return err
}

// Rules returns the rules cfg enables: every built-in rule, with the settings of the rules
// config file cfg.RulesConfig when one is given.
func Rules(cfg config.Config) ([]rules.Rule, error) {
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
	return rules.New(rc)
}
