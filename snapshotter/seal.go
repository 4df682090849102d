package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// Sealing: a committed layer's dataset is made read-only (readonly=on)
// after Commit returns, not inside it, so an image unpack pays one zfs
// process per Commit (the `zfs snapshot`) instead of two. What clones and
// templates read is the @committed snapshot, immutable from the moment
// `zfs snapshot` returns; readonly=on only guards the dataset's own head
// (its mountpoint on the host) against writes after the commit. So a
// window in which a committed dataset is still writable changes nothing a
// container or a later layer sees.
//
// Pending seals run in one `zfs set readonly=on ds1 ds2 …` once no Commit
// came for sealIdle (an image's layers are committed one after another:
// one command seals them all after the unpack; sealMaxWait bounds the
// wait under a stream of commits), or at Cleanup and Close. A crash can lose pending seals: Close writes
// ondisk.CleanStopMark after sealing everything, New removes it, and a start without
// it (a crash, or the first start) seals every committed dataset first.

const (
	// sealIdle is how long the seals wait for another Commit.
	sealIdle = 500 * time.Millisecond
	// sealMaxWait bounds the wait of the first pending seal.
	sealMaxWait = 10 * sealIdle
	// sealBatch caps the datasets of one `zfs set` (argument length).
	sealBatch = 256
)

// sealer runs pending seals in the background.
type sealer struct {
	s       *Snapshotter
	idle    time.Duration // how long the seals wait for another Commit
	flushMu sync.Mutex    // one flush at a time, so a flush returns after one in flight
	mu      sync.Mutex
	pending []string // dataset names; guarded by mu
	added   chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func newSealer(s *Snapshotter, idle time.Duration) *sealer {
	if idle <= 0 {
		idle = sealIdle
	}
	return &sealer{s: s, idle: idle, added: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// add queues the seal of a committed dataset.
func (q *sealer) add(ds string) {
	q.mu.Lock()
	q.pending = append(q.pending, ds)
	q.mu.Unlock()
	signal(q.added)
}

// forget drops a dataset that is being destroyed from the queue.
func (q *sealer) forget(ds string) {
	q.mu.Lock()
	q.pending = slices.DeleteFunc(q.pending, func(p string) bool { return p == ds })
	q.mu.Unlock()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run is the worker: once a seal is queued it waits until no other came
// for idle (at most sealMaxWait-worth of idles), then seals all that is
// pending.
func (q *sealer) run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case <-q.stop:
			return
		case <-q.added:
		}
		deadline := time.Now().Add(max(sealMaxWait, 10*q.idle))
		timer := time.NewTimer(q.idle)
	wait:
		for {
			select {
			case <-q.stop:
				timer.Stop()
				return
			case <-q.added:
				if time.Now().Before(deadline) {
					timer.Reset(q.idle)
				}
			case <-timer.C:
				break wait
			}
		}
		if err := q.flush(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("making committed datasets read-only failed; Cleanup retries")
		}
	}
}

// flush seals what is pending. It holds the snapshotter's mount lock: on
// kernel ZFS readonly=on remounts the dataset, and zfs-fuse has
// deadlocked on concurrent mounts.
func (q *sealer) flush(ctx context.Context) error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	q.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := q.s.setReadonly(ctx, batch)
	if err != nil {
		q.mu.Lock()
		q.pending = append(batch, q.pending...)
		q.mu.Unlock()
	}
	return err
}

// setReadonly sets readonly=on on the datasets, in batches; a batch that
// fails is retried one by one, and a dataset that is gone is skipped.
func (s *Snapshotter) setReadonly(ctx context.Context, names []string) error {
	var errs []error
	for len(names) > 0 {
		n := min(len(names), sealBatch)
		batch := names[:n]
		names = names[n:]
		if err := s.zfs.SetAll(ctx, batch, "readonly", "on"); err == nil {
			continue
		} else if len(batch) == 1 {
			if !zfsdriver.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		for _, ds := range batch {
			if err := s.zfs.SetAll(ctx, []string{ds}, "readonly", "on"); err != nil && !zfsdriver.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// sealAfterUncleanStop runs in New: unless the last run closed cleanly,
// it seals every committed dataset (one zfs command per sealBatch).
// Either way it removes the clean mark, so a crash of this run leads the
// next start to seal again.
func (s *Snapshotter) sealAfterUncleanStop(ctx context.Context) error {
	mark := ondisk.CleanStopMark(s.root)
	switch err := os.Remove(mark); {
	case err == nil:
		return syncDir(s.root)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("clean-stop mark: %w", err)
	}
	var committed []string
	err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		return storage.WalkInfo(ctx, func(ctx context.Context, info snapshots.Info) error {
			if info.Kind != snapshots.KindCommitted {
				return nil
			}
			id, _, _, err := storage.GetInfo(ctx, info.Name)
			if err != nil {
				return err
			}
			committed = append(committed, s.datasetName(id))
			return nil
		})
	})
	if err != nil && !errdefs.IsNotFound(err) { // NotFound: a store that never held a snapshot
		return fmt.Errorf("list committed snapshots: %w", err)
	}
	if len(committed) == 0 {
		return nil
	}
	log.G(ctx).WithField("datasets", len(committed)).Info("last run did not stop cleanly: making every committed dataset read-only")
	if err := s.setReadonly(ctx, committed); err != nil {
		return fmt.Errorf("make committed datasets read-only: %w", err)
	}
	return nil
}

// markClean writes the clean mark (after the last seal).
func (s *Snapshotter) markClean() error {
	if err := os.WriteFile(ondisk.CleanStopMark(s.root), nil, 0o600); err != nil {
		return err
	}
	return syncDir(s.root)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
