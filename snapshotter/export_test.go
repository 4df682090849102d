package snapshotter

import (
	"context"
	"time"
)

// SealNow runs the pending seals (and waits for one in flight), so tests
// can count zfs commands per operation.
func (s *Snapshotter) SealNow(ctx context.Context) error { return s.seal.flush(ctx) }

// Crash stops the snapshotter as a kill -9 after the last metadata commit
// would: pending seals are dropped, the stop is not marked clean and the
// metadata store is closed (so New can open it again).
func (s *Snapshotter) Crash() error {
	s.closeOnce.Do(func() {
		close(s.seal.stop)
		<-s.seal.done
		s.closeErr = s.ms.Close()
	})
	return s.closeErr
}

// WithSealIdle sets how long a queued seal waits for a Prepare to run it
// (default sealIdle).
func WithSealIdle(d time.Duration) Opt {
	return func(c *Config) error { c.sealIdle = d; return nil }
}

// IsUnpackKey is isUnpackKey, for the table test.
var IsUnpackKey = isUnpackKey
