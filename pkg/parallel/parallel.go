// Package parallel runs parts of one process that live and die together.
package parallel

import (
	"context"
	"errors"
	"sync"
)

// Run calls each fn in a goroutine of its own. The context they get is cancelled as soon as
// any of them returns, so that one part stopping — on an error or not — stops the others.
// Run waits for all of them and returns their errors joined.
func Run(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			errs[i] = fn(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
