package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/snapshotter"
	snapconfig "github.com/zfslxc/zfslxc/snapshotter/config"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// gcReport is what `zfslxc gc` did, for --json.
type gcReport struct {
	// Mode is "daemon" (Cleanup through the running snapshotter) or
	// "offline" (the metadata opened here).
	Mode    string `json:"mode"`
	Address string `json:"address,omitempty"`
	Root    string `json:"root,omitempty"`
	Dataset string `json:"dataset,omitempty"`
	DryRun  bool   `json:"dry_run"`
	// The offline report; through the daemon only its log has it.
	Orphans         []string          `json:"orphans,omitempty"`
	Kept            map[string]string `json:"kept,omitempty"`
	Missing         []string          `json:"missing,omitempty"`
	RemovedMetadata []string          `json:"removed_metadata,omitempty"`
}

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "destroy orphan snapshot datasets and drop metadata of vanished ones (the snapshotter's Cleanup)",
		Description: `Makes the snapshotter's metadata and its datasets agree, as its Cleanup does
after each containerd garbage collection: datasets under the parent with no
snapshot in the metadata (left by a crash) are destroyed; snapshots whose
dataset is gone are removed from the metadata when they have no children.

The metadata (<root>/metadata.db) is locked while the daemon runs. When the
daemon answers on its socket, gc asks it to run Cleanup (the daemon's log
says what it destroyed), and --dry-run is refused: a dry run needs the
metadata, so stop the daemon first. Otherwise gc opens the metadata itself
and prints what it found and did. Datasets whose name is not a number are
never touched. The dataset, root and socket default to what
/etc/zfslxc/snapshotter.toml says (--snapshotter-config).

Examples:
   zfslxc gc                                            # through the running daemon
   systemctl stop zfslxc-snapshotter
   zfslxc gc --dry-run --dataset tank/zfslxc            # what would be destroyed
   zfslxc gc --dataset tank/zfslxc --root /var/lib/zfslxc-snapshotter --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "report only, change nothing (needs the daemon stopped)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.StringFlag{Name: "root", Usage: "the snapshotter's --root, holding metadata.db (default: from --snapshotter-config, else " + snapconfig.DefaultRoot + ")"},
			&cli.StringFlag{Name: "dataset", Usage: "the snapshotter's parent dataset (default: from --snapshotter-config)"},
			&cli.StringFlag{Name: "address", Usage: "the snapshotter's socket (default: from --snapshotter-config, else " + snapconfig.DefaultAddress + ")"},
			snapshotterConfigFlag(),
		},
		Action: func(c *cli.Context) error {
			sc, err := loadSnapshotterConfig(c)
			if err != nil {
				return err
			}
			for flag, v := range map[string]*string{"root": &sc.Root, "dataset": &sc.Dataset, "address": &sc.Address} {
				if c.IsSet(flag) {
					*v = c.String(flag)
				}
			}
			var rep gcReport
			if daemonAnswers(c.Context, sc.Address) {
				if c.Bool("dry-run") {
					return fmt.Errorf("--dry-run: the snapshotter daemon runs on %s and holds the metadata lock, so a dry run is impossible; "+
						"stop it (systemctl stop zfslxc-snapshotter) for a dry run, or run `zfslxc gc` without --dry-run to clean up through the daemon", sc.Address)
				}
				rep, err = gcDaemon(c.Context, sc.Address)
			} else {
				rep, err = gcOffline(c.Context, sc.Root, sc.Dataset, c.Bool("dry-run"))
			}
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.writeText(c.App.Writer)
		},
	}
}

// daemonAnswers reports whether something accepts connections on the
// snapshotter's socket.
func daemonAnswers(ctx context.Context, address string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", strings.TrimPrefix(address, "unix://"))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// gcDaemon runs Cleanup in the daemon through containerd's proxy client.
func gcDaemon(ctx context.Context, address string) (gcReport, error) {
	address = strings.TrimPrefix(address, "unix://")
	rep := gcReport{Mode: "daemon", Address: address}
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return rep, fmt.Errorf("snapshotter at %s: %w", address, err)
	}
	defer conn.Close()
	cl, ok := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), containerdconfig.DefaultSnapshotterName).(snapshots.Cleaner)
	if !ok {
		return rep, errors.New("containerd's proxy snapshotter has no Cleanup")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := cl.Cleanup(ctx); err != nil {
		return rep, fmt.Errorf("cleanup through the snapshotter at %s: %w", address, err)
	}
	return rep, nil
}

// gcOffline opens the snapshotter's metadata and datasets here and runs
// Reconcile.
func gcOffline(ctx context.Context, root, dataset string, dryRun bool) (gcReport, error) {
	rep := gcReport{Mode: "offline", Root: root, Dataset: dataset, DryRun: dryRun}
	if dataset == "" {
		return rep, errors.New("no parent dataset: give --dataset, or set dataset in the snapshotter config")
	}
	db := filepath.Join(root, "metadata.db")
	// A fresh, empty metadata store would make every dataset an orphan:
	// refuse unless the store is there.
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("%s does not exist: is --root the snapshotter's root? (gc will not treat every dataset of %s as an orphan)", db, dataset)
	} else if err != nil {
		return rep, err
	}
	// bbolt waits forever for its lock: find out first whether a daemon
	// that does not answer on its socket still holds it.
	if err := checkUnlocked(db); err != nil {
		return rep, err
	}
	drv, err := zfsdriver.New(ctx)
	if err != nil {
		return rep, err
	}
	// snapshotter.New would create a missing parent dataset.
	if ok, err := drv.Exists(ctx, dataset); err != nil {
		return rep, fmt.Errorf("dataset %s: %w", dataset, err)
	} else if !ok {
		return rep, fmt.Errorf("dataset %s does not exist: nothing to clean up (is --dataset right?)", dataset)
	}
	sn, err := snapshotter.New(ctx, root, snapshotter.WithDataset(dataset), snapshotter.WithDriver(drv))
	if err != nil {
		return rep, err
	}
	defer sn.Close()
	r, err := sn.Reconcile(ctx, dryRun)
	rep.Orphans, rep.Kept, rep.Missing, rep.RemovedMetadata = r.Orphans, r.Kept, r.Missing, r.RemovedMetadata
	if len(rep.Kept) == 0 {
		rep.Kept = nil
	}
	return rep, err
}

// checkUnlocked fails when another process holds the bbolt lock on db.
func checkUnlocked(db string) error {
	f, err := os.Open(db)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s is locked by another process (a zfslxc-snapshotter whose socket does not answer?): stop it, or give --address of the running daemon", db)
		}
		return fmt.Errorf("lock %s: %w", db, err)
	}
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

func (r gcReport) writeText(w io.Writer) error {
	var b strings.Builder
	if r.Mode == "daemon" {
		fmt.Fprintf(&b, "cleanup done by the snapshotter daemon on %s (its log lists what it destroyed and kept)\n", r.Address)
		_, err := io.WriteString(w, b.String())
		return err
	}
	verb := "destroyed"
	if r.DryRun {
		verb = "would destroy"
		fmt.Fprintf(&b, "dry run: nothing changed (dataset %s, metadata %s)\n", r.Dataset, filepath.Join(r.Root, "metadata.db"))
	}
	fmt.Fprintf(&b, "orphan datasets (no metadata): %d\n", len(r.Orphans))
	for _, ds := range r.Orphans {
		if reason, kept := r.Kept[ds]; kept {
			fmt.Fprintf(&b, "  kept           %s: %s\n", ds, reason)
		} else {
			fmt.Fprintf(&b, "  %-14s %s\n", verb, ds)
		}
	}
	removed := map[string]bool{}
	for _, k := range r.RemovedMetadata {
		removed[k] = true
	}
	missing := append([]string(nil), r.Missing...)
	sort.Strings(missing)
	fmt.Fprintf(&b, "snapshots whose dataset is gone: %d\n", len(missing))
	for _, k := range missing {
		switch {
		case removed[k]:
			fmt.Fprintf(&b, "  metadata removed  %s\n", k)
		case r.DryRun:
			fmt.Fprintf(&b, "  missing           %s (metadata removed unless it has children)\n", k)
		default:
			fmt.Fprintf(&b, "  metadata kept     %s (has children)\n", k)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
