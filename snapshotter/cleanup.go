package snapshotter

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// CleanupReport says what Cleanup found and did.
type CleanupReport struct {
	// Orphans: datasets under the parent with no metadata (destroyed unless
	// DryRun, or listed in Kept).
	Orphans []string
	// Kept: orphans zfs would not destroy yet (busy, or cloned outside
	// containerd), with the reason; tried again on the next Cleanup.
	Kept map[string]string
	// Missing: snapshots whose dataset is gone; leaves among them are
	// removed from the metadata unless DryRun, the rest only reported.
	Missing []string
	// RemovedMetadata: the keys of Missing removed from the metadata.
	RemovedMetadata []string
}

// Cleanup makes the metadata and the datasets agree: it destroys datasets
// that have no snapshot (left by a crash, or by a Remove whose destroy
// failed) and removes the metadata of snapshots whose dataset is gone and
// that have no children; and it makes the committed datasets still
// writable read-only (seal.go). containerd calls it after its garbage
// collection.
func (s *Snapshotter) Cleanup(ctx context.Context) error {
	if err := s.seal.flush(ctx); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	rep, err := s.Reconcile(ctx, false)
	if err != nil {
		return err
	}
	if len(rep.Kept) > 0 || len(rep.Missing) > len(rep.RemovedMetadata) {
		log.G(ctx).WithFields(log.Fields{"kept": rep.Kept, "missing": rep.Missing}).Warn("cleanup left some snapshots")
	}
	return nil
}

// Reconcile is Cleanup with a report; with dryRun it changes nothing.
func (s *Snapshotter) Reconcile(ctx context.Context, dryRun bool) (CleanupReport, error) {
	rep := CleanupReport{Kept: map[string]string{}}
	// The write transaction keeps Prepare/Commit/Remove out while the two
	// sides are compared; destroying happens after it ends.
	var orphans []string
	err := s.ms.WithTransaction(ctx, !dryRun, func(ctx context.Context) error {
		ids, err := storage.IDMap(ctx)
		if errdefs.IsNotFound(err) {
			// A MetaStore that never held a snapshot has no bucket yet;
			// every snapshot dataset is then an orphan (a crash during
			// the first Prepare leaves one).
			ids, err = map[string]string{}, nil
		}
		if err != nil {
			return err
		}
		list, err := s.zfs.List(ctx, s.dataset, zfsdriver.ListOptions{Depth: 1})
		if err != nil {
			return fmt.Errorf("list snapshot datasets: %w", err)
		}
		present := make(map[string]bool, len(list))
		for _, ds := range list {
			if ds.Name == s.dataset {
				continue
			}
			id := ds.Name[len(s.dataset)+1:]
			if !ondisk.IsID(id) {
				continue // not a snapshot dataset: leave it alone
			}
			present[id] = true
			if _, ok := ids[id]; !ok {
				orphans = append(orphans, id)
			}
		}
		var missing []string
		for id, key := range ids {
			if !present[id] {
				missing = append(missing, key)
			}
		}
		rep.Missing = missing
		if dryRun {
			return nil
		}
		rep.RemovedMetadata, err = removeLeaves(ctx, missing)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("cleanup: %w", err)
	}
	for _, id := range orphans {
		rep.Orphans = append(rep.Orphans, s.datasetName(id))
	}
	if dryRun {
		return rep, nil
	}
	// Orphans can be clones of one another (a layer chain whose metadata
	// went while a zfslxc template was cloned from its top): a parent is
	// destroyable only after its clone, so go round again while a pass
	// destroys something.
	pending := orphans
	for len(pending) > 0 {
		var next []string
		for _, id := range pending {
			ds := s.datasetName(id)
			if err := s.destroy(ctx, id, true); err != nil {
				rep.Kept[ds] = err.Error()
				next = append(next, id)
				continue
			}
			delete(rep.Kept, ds)
			log.G(ctx).WithField("dataset", ds).Info("destroyed orphan dataset")
		}
		if len(next) == len(pending) {
			break
		}
		pending = next
	}
	return rep, nil
}

// removeLeaves removes from the metadata the keys without children, again
// and again while removing one makes its parent a leaf in the set.
func removeLeaves(ctx context.Context, keys []string) ([]string, error) {
	pending := make(map[string]bool, len(keys))
	for _, k := range keys {
		pending[k] = true
	}
	var removed []string
	for progress := true; progress; {
		progress = false
		for k := range pending {
			_, _, err := storage.Remove(ctx, k)
			if err != nil {
				continue // has children still (or vanished): keep for now
			}
			delete(pending, k)
			removed = append(removed, k)
			progress = true
			log.G(ctx).WithField("key", k).Warn("removed metadata of snapshot whose dataset is gone")
		}
	}
	return removed, nil
}
