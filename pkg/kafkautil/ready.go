package kafkautil

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// readyTimeout bounds the connection of one readiness check with its TLS handshake and
// sign-in.
const readyTimeout = 5 * time.Second

// ReadyCheck returns a readiness check of the cluster (a metrics.CheckFunc): it connects to
// a bootstrap broker, as every client of the cluster does (TLS, SASL), and asks it which API
// versions it serves. It fails when no broker answers, or one refuses the sign-in or the
// certificate. It asks nothing of topics, so it creates none on a broker that creates topics
// when asked about them.
func ReadyCheck(c Cluster) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if len(c.Brokers) == 0 {
			return errors.New("no Kafka brokers configured")
		}
		var errs []error
		for _, b := range c.Brokers {
			conn, err := c.Dialer(readyTimeout).DialContext(ctx, "tcp", b)
			if err == nil {
				_, err = conn.ApiVersions()
				conn.Close()
				if err == nil {
					return nil
				}
			}
			errs = append(errs, fmt.Errorf("Kafka broker %s: %w", b, c.Explain(err)))
		}
		return errors.Join(errs...)
	}
}
