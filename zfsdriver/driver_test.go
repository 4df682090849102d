package zfsdriver

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// reply is what the fake runner answers to one command.
type reply struct {
	stdout, stderr string
	code           int
}

// fakeZFS records commands and answers them from a script keyed by the
// joined argument list (prefix match), else with success and no output.
type fakeZFS struct {
	mu      sync.Mutex
	calls   []string
	answers map[string][]reply // consumed in order; the last one repeats
}

func (f *fakeZFS) run(_ context.Context, path string, args []string) ([]byte, []byte, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := strings.Join(args, " ")
	if strings.HasSuffix(path, "zpool") {
		line = "zpool " + line
	}
	f.calls = append(f.calls, line)
	for prefix, rs := range f.answers {
		if strings.HasPrefix(line, prefix) && len(rs) > 0 {
			r := rs[0]
			if len(rs) > 1 {
				f.answers[prefix] = rs[1:]
			}
			return []byte(r.stdout), []byte(r.stderr), r.code, nil
		}
	}
	return nil, nil, 0, nil
}

func newFake(t *testing.T, caps Capabilities, answers map[string][]reply) (*Driver, *fakeZFS) {
	t.Helper()
	f := &fakeZFS{answers: answers}
	d, err := New(context.Background(), WithBinaries("/sbin/zfs", "/sbin/zpool"), WithRunner(f.run),
		WithCapabilities(caps), WithRetry(RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond}),
		WithMountLock(filepath.Join(t.TempDir(), "mount.lock")))
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

func TestValidateNames(t *testing.T) {
	cases := []struct {
		name  string
		check func(string) error
		ok    bool
	}{
		{"tank", ValidateDataset, true},
		{"tank/zfslxc/123", ValidateDataset, true},
		{"tank/a-b_c:d.e", ValidateDataset, true},
		{"tank/a@snap", ValidateSnapshot, true},
		{"tank/a@com:mitted.1", ValidateSnapshot, true},
		{"", ValidateDataset, false},
		{"-o", ValidateDataset, false},
		{"tank/-r", ValidateDataset, false},
		{"tank/has space", ValidateDataset, false},
		{"tank/a@b", ValidateDataset, false},
		{"tank/a#b", ValidateDataset, false},
		{"tank/../etc", ValidateDataset, false},
		{"tank/./a", ValidateDataset, false},
		{"tank//a", ValidateDataset, false},
		{"tank/a/", ValidateDataset, false},
		{"/tank", ValidateDataset, false},
		{"tank/a\nb", ValidateDataset, false},
		{"tank/a;rm", ValidateDataset, false},
		{"tank/" + strings.Repeat("x", 260), ValidateDataset, false},
		{"tank/a", ValidateSnapshot, false},
		{"tank/a@", ValidateSnapshot, false},
		{"tank/a@b@c", ValidateSnapshot, false},
		{"tank/a@-r", ValidateSnapshot, false},
		{"tank/a@b/c", ValidateSnapshot, false},
		{"1tank", ValidatePool, false},
		{"mirror", ValidatePool, false},
		{"c0d0", ValidatePool, false},
		{"tank", ValidatePool, true},
	}
	for _, tc := range cases {
		err := tc.check(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q: error %v is not ErrInvalidName", tc.name, err)
		}
	}
}

func TestValidateProperties(t *testing.T) {
	good := []string{"refquota", "io.zfslxc:key", "com.sun:auto-snapshot", "userquota@1000", "io.zfslxc:a+b"}
	bad := []string{"", "-o", "RefQuota", "io.zfslxc:Key", "a=b", "x y", "io.zfslxc:k@v"}
	for _, p := range good {
		if err := ValidateProperty(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range bad {
		if err := ValidateProperty(p); !errors.Is(err, ErrInvalidProperty) {
			t.Errorf("%q: err = %v, want ErrInvalidProperty", p, err)
		}
	}
	if err := ValidatePropertyValue("io.zfslxc:k", "a\nb"); !errors.Is(err, ErrInvalidProperty) {
		t.Errorf("newline in value accepted: %v", err)
	}
	if err := ValidatePropertyValue("io.zfslxc:k", "default/1/sha256:ab= c"); err != nil {
		t.Errorf("ordinary value refused: %v", err)
	}
}

// TestInvalidInputNeverExecs checks that every operation refuses bad names
// and properties before running anything, with ErrInvalidName or
// ErrInvalidProperty and errdefs.ErrInvalidArgument.
func TestInvalidInputNeverExecs(t *testing.T) {
	d, f := newFake(t, ZFSFuseCapabilities(), nil)
	ctx := context.Background()
	bad := "tank/-rf"
	ops := map[string]func() error{
		"create":      func() error { return d.Create(ctx, bad, CreateOptions{}) },
		"create prop": func() error { return d.Create(ctx, "tank/a", CreateOptions{Properties: map[string]string{"-o": "x"}}) },
		"create value": func() error {
			return d.Create(ctx, "tank/a", CreateOptions{Properties: map[string]string{"io.x:y": "a\x00"}})
		},
		"destroy":        func() error { return d.Destroy(ctx, "tank/a b", DestroyOptions{}) },
		"destroy defer":  func() error { return d.Destroy(ctx, "tank/a", DestroyOptions{Defer: true}) },
		"snapshot":       func() error { return d.Snapshot(ctx, []string{"tank/a@ok", "tank/b"}, SnapshotOptions{}) },
		"snapshot none":  func() error { return d.Snapshot(ctx, nil, SnapshotOptions{}) },
		"clone src":      func() error { return d.Clone(ctx, "tank/a", "tank/b", CloneOptions{}) },
		"clone dst":      func() error { return d.Clone(ctx, "tank/a@s", "tank/b@c", CloneOptions{}) },
		"rollback":       func() error { return d.Rollback(ctx, "tank/a", RollbackOptions{}) },
		"promote":        func() error { return d.Promote(ctx, "tank/a@s") },
		"rename":         func() error { return d.Rename(ctx, "tank/a", "tank/..") },
		"rename kind":    func() error { return d.Rename(ctx, "tank/a", "tank/a@s") },
		"get":            func() error { _, err := d.Get(ctx, bad, "used"); return err },
		"get prop":       func() error { _, err := d.Get(ctx, "tank/a", "used,-o"); return err },
		"set":            func() error { return d.Set(ctx, "tank/a", map[string]string{"Bad": "1"}) },
		"inherit":        func() error { return d.Inherit(ctx, "tank/a", "a b") },
		"set all name":   func() error { return d.SetAll(ctx, []string{"tank/a", bad}, "readonly", "on") },
		"set all prop":   func() error { return d.SetAll(ctx, []string{"tank/a"}, "read only", "on") },
		"list":           func() error { _, err := d.List(ctx, "tank/a@s", ListOptions{}); return err },
		"children":       func() error { _, err := d.Children(ctx, bad); return err },
		"snapshots":      func() error { _, err := d.Snapshots(ctx, bad); return err },
		"exists":         func() error { _, err := d.Exists(ctx, "-H"); return err },
		"mount":          func() error { return d.Mount(ctx, bad) },
		"unmount":        func() error { return d.Unmount(ctx, bad, false) },
		"usage":          func() error { _, err := d.Usage(ctx, bad); return err },
		"pool create":    func() error { return d.PoolCreate(ctx, "mirror", []string{"/tmp/x"}, PoolCreateOptions{}) },
		"pool vdev":      func() error { return d.PoolCreate(ctx, "tank", []string{"-f"}, PoolCreateOptions{}) },
		"pool mount":     func() error { return d.PoolCreate(ctx, "tank", []string{"/x"}, PoolCreateOptions{Mountpoint: "rel"}) },
		"pool destroy":   func() error { return d.PoolDestroy(ctx, "-f", false) },
		"pool list name": func() error { _, err := d.Pools(ctx, "tank/a"); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidName) && !errors.Is(err, ErrInvalidProperty) {
				t.Errorf("err %v is neither ErrInvalidName nor ErrInvalidProperty", err)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("err %v is not errdefs.ErrInvalidArgument", err)
			}
		})
	}
	if len(f.calls) != 0 {
		t.Fatalf("commands ran for refused input: %q", f.calls)
	}
}

func TestArgsPerCapability(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		caps Capabilities
		op   func(*Driver) error
		want []string
	}{
		{"snapshot several openzfs", OpenZFSCapabilities("2.1"),
			func(d *Driver) error { return d.Snapshot(ctx, []string{"t/a@s", "t/b@s"}, SnapshotOptions{}) },
			[]string{"snapshot t/a@s t/b@s"}},
		{"snapshot several zfs-fuse", ZFSFuseCapabilities(),
			func(d *Driver) error { return d.Snapshot(ctx, []string{"t/a@s", "t/b@s"}, SnapshotOptions{}) },
			[]string{"snapshot t/a@s", "snapshot t/b@s"}},
		{"set several openzfs", OpenZFSCapabilities("2.1"),
			func(d *Driver) error {
				return d.Set(ctx, "t/a", map[string]string{"readonly": "on", "io.zfslxc:k": "v"})
			},
			[]string{"set io.zfslxc:k=v readonly=on t/a"}},
		{"set several zfs-fuse", ZFSFuseCapabilities(),
			func(d *Driver) error {
				return d.Set(ctx, "t/a", map[string]string{"readonly": "on", "io.zfslxc:k": "v"})
			},
			[]string{"set io.zfslxc:k=v t/a", "set readonly=on t/a"}},
		{"set on several datasets", ZFSFuseCapabilities(),
			func(d *Driver) error { return d.SetAll(ctx, []string{"t/1", "t/2"}, "readonly", "on") },
			[]string{"set readonly=on t/1 t/2"}},
		{"set on no dataset runs nothing", OpenZFSCapabilities("2.1"),
			func(d *Driver) error { return d.SetAll(ctx, nil, "readonly", "on") },
			nil},
		{"create with properties", OpenZFSCapabilities("2.1"),
			func(d *Driver) error {
				return d.Create(ctx, "t/a", CreateOptions{Parents: true, Properties: map[string]string{"refquota": "10M", "com.sun:auto-snapshot": "false"}})
			},
			[]string{"create -p -o com.sun:auto-snapshot=false -o refquota=10M t/a"}},
		{"clone", OpenZFSCapabilities("2.1"),
			func(d *Driver) error {
				return d.Clone(ctx, "t/a@s", "t/b", CloneOptions{Properties: map[string]string{"readonly": "on"}})
			},
			[]string{"clone -o readonly=on t/a@s t/b"}},
		{"destroy openzfs does not unmount", OpenZFSCapabilities("2.1"),
			func(d *Driver) error { return d.Destroy(ctx, "t/a", DestroyOptions{Recursive: true}) },
			[]string{"destroy -r t/a"}},
		{"destroy snapshot deferred", ZFSFuseCapabilities(),
			func(d *Driver) error { return d.Destroy(ctx, "t/a@s", DestroyOptions{Defer: true}) },
			[]string{"destroy -d t/a@s"}},
		{"list openzfs uses list -p", OpenZFSCapabilities("2.1"),
			func(d *Driver) error { _, err := d.List(ctx, "t", ListOptions{Depth: -1}); return err },
			[]string{"list -H -p -o name,type,origin,mountpoint,mounted,used,referenced,available -t filesystem,volume -r t"}},
		{"list zfs-fuse uses get -p", ZFSFuseCapabilities(),
			func(d *Driver) error { _, err := d.List(ctx, "t", ListOptions{Depth: 1}); return err },
			[]string{"get -H -p -o name,property,value -d 1 type,origin,mountpoint,mounted,used,referenced,available t"}},
		{"pools openzfs", OpenZFSCapabilities("2.1"),
			func(d *Driver) error { _, err := d.Pools(ctx); return err },
			[]string{"zpool list -H -p -o name,size,allocated,free,health"}},
		{"pools zfs-fuse", ZFSFuseCapabilities(),
			func(d *Driver) error { _, err := d.Pools(ctx, "t"); return err },
			[]string{"zpool list -H -o name,size,allocated,free,health t"}},
		{"pool create", ZFSFuseCapabilities(),
			func(d *Driver) error {
				return d.PoolCreate(ctx, "t", []string{"/var/tmp/t.img"}, PoolCreateOptions{Mountpoint: "/mnt/t",
					Properties: map[string]string{"cachefile": "none"}, FSProperties: map[string]string{"atime": "off"}})
			},
			[]string{"zpool create -m /mnt/t -o cachefile=none -O atime=off t /var/tmp/t.img"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newFake(t, tc.caps, nil)
			if err := tc.op(d); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.calls, tc.want) {
				t.Errorf("commands:\n got %q\nwant %q", f.calls, tc.want)
			}
			if d.Commands() != int64(len(tc.want)) {
				t.Errorf("Commands() = %d, want %d", d.Commands(), len(tc.want))
			}
		})
	}
}

func TestDestroyOnZFSFuseUnmountsLeavesFirst(t *testing.T) {
	rows := "t/a\ttype\tfilesystem\nt/a\tmounted\tyes\n" +
		"t/a/b\ttype\tfilesystem\nt/a/b\tmounted\tyes\n" +
		"t/a/b/c\ttype\tfilesystem\nt/a/b/c\tmounted\tno\n" +
		"t/a@s\ttype\tsnapshot\n"
	d, f := newFake(t, ZFSFuseCapabilities(), map[string][]reply{"get ": {{stdout: rows}}})
	if err := d.Destroy(context.Background(), "t/a", DestroyOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"get -H -p -o name,property,value -r type,origin,mountpoint,mounted,used,referenced,available t/a",
		"unmount t/a/b", "unmount t/a", "destroy -r t/a",
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("commands:\n got %q\nwant %q", f.calls, want)
	}
}

func TestBusyIsRetried(t *testing.T) {
	busy := reply{stderr: "cannot destroy 't/a': dataset is busy", code: 1}
	d, f := newFake(t, OpenZFSCapabilities("2.1"), map[string][]reply{"destroy": {busy, busy, {}}})
	if err := d.Destroy(context.Background(), "t/a", DestroyOptions{}); err != nil {
		t.Fatalf("busy twice then ok: %v", err)
	}
	if len(f.calls) != 3 || d.Retries() != 2 {
		t.Errorf("ran %d times with %d retries, want 3 and 2: %q", len(f.calls), d.Retries(), f.calls)
	}

	d, f = newFake(t, OpenZFSCapabilities("2.1"), map[string][]reply{"destroy": {busy}})
	err := d.Destroy(context.Background(), "t/a", DestroyOptions{})
	if !errors.Is(err, ErrBusy) || !errdefs.IsUnavailable(err) {
		t.Fatalf("always busy: err = %v, want ErrBusy", err)
	}
	if len(f.calls) != 3 {
		t.Errorf("ran %d times, want 3 (the policy's attempts)", len(f.calls))
	}
}

func TestNonBusyFailureIsNotRetried(t *testing.T) {
	d, f := newFake(t, OpenZFSCapabilities("2.1"), map[string][]reply{
		"destroy": {{stderr: "cannot open 't/a': dataset does not exist", code: 1}}})
	err := d.Destroy(context.Background(), "t/a", DestroyOptions{})
	var zerr *Error
	if !errors.As(err, &zerr) || zerr.Kind != ErrNotFound || zerr.Op != "destroy" || zerr.Name != "t/a" || zerr.ExitCode != 1 {
		t.Fatalf("err = %#v", err)
	}
	if len(f.calls) != 1 {
		t.Errorf("ran %d times, want 1", len(f.calls))
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	busy := reply{stderr: "cannot destroy 't/a': dataset is busy", code: 1}
	f := &fakeZFS{answers: map[string][]reply{"destroy": {busy}}}
	d, err := New(context.Background(), WithBinaries("/sbin/zfs", "/sbin/zpool"), WithRunner(f.run),
		WithCapabilities(OpenZFSCapabilities("")), WithRetry(RetryPolicy{Attempts: 100, Initial: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = d.Destroy(ctx, "t/a", DestroyOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("retry wait ignored the context")
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name    string
		answers map[string][]reply
		want    Capabilities
		wantErr error
	}{
		{"openzfs 2.1", map[string][]reply{"version": {{stdout: "zfs-2.1.11-1\nzfs-kmod-2.1.11-1\n"}}},
			OpenZFSCapabilities("2.1.11-1"), nil},
		{"zfs-fuse", map[string][]reply{
			"version": {{stderr: "unrecognized command 'version'\nusage: zfs command args ...", code: 2}},
			"list":    {{stderr: "invalid option 'p'\nusage:", code: 2}}},
			ZFSFuseCapabilities(), nil},
		{"old openzfs", map[string][]reply{
			"version": {{stderr: "unrecognized command 'version'", code: 2}},
			"list":    {{stdout: "tank\n"}}},
			OpenZFSCapabilities("(before 0.8)"), nil},
		{"zfs-fuse daemon down", map[string][]reply{
			"version": {{stderr: "unrecognized command 'version'", code: 2}},
			"list": {{stderr: "connect: No such file or directory\nPlease make sure that the zfs-fuse daemon is running.\n" +
				"internal error: failed to initialize ZFS library", code: 1}}},
			Capabilities{}, ErrUnavailable},
		{"module not loaded", map[string][]reply{
			"version": {{stderr: "The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.", code: 1}}},
			Capabilities{}, ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeZFS{answers: tc.answers}
			d, err := New(context.Background(), WithBinaries("/sbin/zfs", "/sbin/zpool"), WithRunner(f.run))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Capabilities() != tc.want {
				t.Errorf("caps = %+v, want %+v", d.Capabilities(), tc.want)
			}
		})
	}
}

func TestMissingBinaryIsUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := New(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "install") {
		t.Fatalf("err = %v, want ErrUnavailable with an install hint", err)
	}
	d, err := New(context.Background(), WithBinaries("/nonexistent/zfs", "/nonexistent/zpool"),
		WithCapabilities(ZFSFuseCapabilities()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exists(context.Background(), "t/a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("running a missing binary: err = %v, want ErrUnavailable", err)
	}
}

// BenchmarkOverhead measures the driver's own cost per call (validation,
// argument building, classification, logging) with a runner that does
// nothing, the part that the real-pool benchmarks cannot separate from
// process start-up.
func BenchmarkOverhead(b *testing.B) {
	noop := func(context.Context, string, []string) ([]byte, []byte, int, error) {
		return []byte("used\t1\t-\nreferenced\t2\t-\n"), nil, 0, nil
	}
	d, err := New(context.Background(), WithBinaries("/sbin/zfs", "/sbin/zpool"), WithRunner(noop),
		WithCapabilities(ZFSFuseCapabilities()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("clone", func(b *testing.B) {
		for b.Loop() {
			if err := d.Clone(ctx, "tank/zfslxc/1@committed", "tank/zfslxc/2", CloneOptions{Properties: map[string]string{"io.zfslxc:key": "k"}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Get(ctx, "tank/zfslxc/1", "used", "referenced"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
