package shim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// churnImages is how many images TestChurn imports at once.
const churnImages = 5

// churnImage is one of TestChurn's images: its layout tar and what a
// container of it must see.
type churnImage struct {
	ref, tar string
	expect   imagebuild.Expectation
}

var churnBuild struct {
	once sync.Once
	imgs []churnImage
	err  error
}

// TestChurn imports 5 images that share layers, all at once, while
// containers start and stop and `zfslxc template create` (a second
// process that creates and mounts datasets on the same zfs-fuse) makes
// and removes templates, for ROUNDS rounds (ZFSLXC_CHURN_ROUNDS, 2):
//
//   - every import succeeds and is whole: a container of each image
//     checks every file's digest and every directory's listing (shared
//     layers, a file replaced and one whited out by the top layer);
//   - every churn container (WORKERS loops of `ctr run --rm`,
//     ZFSLXC_CHURN_WORKERS, 3) prints its number and exits with it;
//   - every template create and rm succeeds, and the template holds the
//     image's files (read on the host);
//   - no deadlock: a watchdog (ZFSLXC_CHURN_TIMEOUT seconds, 300) fails
//     the test with the state of every zfs, ctr, zfslxc and daemon
//     process (wait channel, kernel stack), the test's goroutines and
//     containerd's and the snapshotter's goroutine dumps;
//   - afterwards nothing is left: task, container, bundle, shim or
//     zfslxc-start process, cgroup, mount, template, and (after a garbage
//     collection) no dataset but the base image's layer.
//
// zfs-fuse deadlocked when two processes mounted new datasets at once;
// the snapshotter and zfslxc do it here all the time, which zfsdriver's
// host-wide mount lock makes safe. About 20 s per containerd here, so it
// runs in make test; make stress runs it too, for its figures.
func TestChurn(t *testing.T) {
	rounds := envInt(t, "ZFSLXC_CHURN_ROUNDS", 2)
	workers := envInt(t, "ZFSLXC_CHURN_WORKERS", 3)
	timeout := time.Duration(envInt(t, "ZFSLXC_CHURN_TIMEOUT", 300)) * time.Second
	helloImage(t) // skips without busybox
	churnBuild.once.Do(func() { churnBuild.imgs, churnBuild.err = buildChurnImages() })
	if churnBuild.err != nil {
		t.Fatal(churnBuild.err)
	}
	imgs := churnBuild.imgs
	zfslxc := filepath.Join(binDir(t), "zfslxc")
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			pool, _, _ := strings.Cut(e.dataset, "/")
			tplParent := pool + "/churn-templates"
			prefix := fmt.Sprintf("ch%d-", os.Getpid())
			datasetsBefore := e.datasets(t)

			work, cancel := context.WithCancel(context.Background())
			defer cancel()
			hang := make(chan string, 1) // the watchdog's report
			watchdog := time.AfterFunc(timeout, func() {
				hang <- e.hangReport(t)
				cancel()
			})
			var st churnStats
			var wg sync.WaitGroup
			done := make(chan struct{})
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.churnContainers(work, done, fmt.Sprintf("%sw%d-", prefix, w), &st)
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				churnTemplates(work, done, zfslxc, tplParent, imgs, &st)
			}()

			start := time.Now()
			var phases []time.Duration
			for round := 1; round <= rounds && work.Err() == nil; round++ {
				p := time.Now()
				each(len(imgs), func(i int) {
					if _, _, err := e.d.CtrContext(work, "images", "import", "--snapshotter", sn, imgs[i].tar); err != nil {
						st.fail("round %d: import %s: %v", round, imgs[i].ref, err)
					}
				})
				phases = append(phases, time.Since(p))
				each(len(imgs), func(i int) {
					id := fmt.Sprintf("%scheck-%d-%d", prefix, round, i)
					out, stderr, err := e.d.CtrContext(work, "run", "--rm", "--snapshotter", sn, "--runtime", runtimeType,
						imgs[i].ref, id, "/bin/sh", "-c", imgs[i].expect.Script())
					if err == nil {
						err = imgs[i].expect.Verify(out)
					}
					if err != nil {
						st.fail("round %d: check of %s: %v (stderr %q)", round, imgs[i].ref, err, stderr)
						return
					}
					st.add(&st.checks)
				})
				each(len(imgs), func(i int) {
					if _, _, err := e.d.CtrContext(work, "images", "rm", imgs[i].ref); err != nil {
						st.fail("round %d: images rm %s: %v", round, imgs[i].ref, err)
					}
				})
			}
			close(done)
			wg.Wait()
			took := time.Since(start)
			if !watchdog.Stop() {
				t.Fatalf("no progress after %v (deadlock?): state when the watchdog fired:\n%s", timeout, <-hang)
			}
			for _, msg := range st.failures {
				t.Error(msg)
			}
			t.Logf("%s: %d rounds of %d imports at once (shared layers), %v in all (import phases %v); during them %d containers run (%d wrong), %d templates created and removed (%d wrong); %d of %d images whole in a container",
				f.Name, rounds, len(imgs), took.Round(time.Millisecond), roundAll(phases), st.runs, st.runFailures,
				st.templates, st.templateFailures, st.checks, rounds*len(imgs))
			if st.runs == 0 || st.templates == 0 {
				t.Errorf("the churn did not overlap the imports: %d containers, %d templates", st.runs, st.templates)
			}
			e.stressLeftovers(t, prefix, datasetsBefore)
			bundles, _ := filepath.Glob(filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "*", prefix+"*"))
			if len(bundles) > 0 {
				t.Errorf("bundles left: %d, first %s", len(bundles), bundles[0])
			}
			if left := containerdtest.ChildDatasets(t, tplParent); len(left) > 0 {
				t.Errorf("template datasets left: %v", left)
			}
		})
	}
}

// churnStats counts what the churn did; guarded by mu.
type churnStats struct {
	mu                sync.Mutex
	runs, runFailures int
	templates         int
	templateFailures  int
	checks            int
	failures          []string
}

func (s *churnStats) add(n *int) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

func (s *churnStats) fail(format string, args ...any) {
	s.mu.Lock()
	s.failures = append(s.failures, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// churnContainers runs containers one after another until done closes:
// each prints its number and exits with it (mod 256).
func (e *env) churnContainers(work context.Context, done <-chan struct{}, prefix string, st *churnStats) {
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		default:
		}
		if work.Err() != nil {
			return
		}
		problem := e.runPrintsAndExits(work, runtimeType, sn, fmt.Sprintf("%s%d", prefix, n), (n*37+1)%256)
		if work.Err() != nil {
			return // the watchdog fired
		}
		st.add(&st.runs)
		if problem != "" {
			st.add(&st.runFailures)
			st.fail("%s", problem)
		}
	}
}

// churnTemplates makes a template of one image after another with
// `zfslxc template create` (unpacked from the layout tar onto a new
// dataset), checks its files on the host and removes it, until done
// closes.
func churnTemplates(work context.Context, done <-chan struct{}, zfslxc, parent string, imgs []churnImage, st *churnStats) {
	run := func(args ...string) error {
		cmd := exec.CommandContext(work, zfslxc, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("zfslxc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		default:
		}
		img := imgs[n%len(imgs)]
		name := fmt.Sprintf("churn%d", n)
		err := run("template", "create", name, "--from", img.tar, "--dataset", parent, "-q")
		if err == nil {
			err = checkTemplateFiles(parent+"/"+name, img.expect)
			if rmErr := run("template", "rm", name, "--dataset", parent); err == nil {
				err = rmErr
			}
		}
		if work.Err() != nil {
			return
		}
		st.add(&st.templates)
		if err != nil {
			st.add(&st.templateFailures)
			st.fail("template %s of %s: %v", name, img.ref, err)
		}
	}
}

// checkTemplateFiles compares the files of the template dataset ds with
// the image's on the host.
func checkTemplateFiles(ds string, want imagebuild.Expectation) error {
	out, err := exec.Command("zfs", "get", "-H", "-o", "value", "mountpoint", ds).Output()
	if err != nil {
		return fmt.Errorf("zfs get mountpoint %s: %w", ds, err)
	}
	root := strings.TrimSpace(string(out))
	for p, content := range want.Files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return fmt.Errorf("template %s: %w", ds, err)
		}
		if string(got) != content {
			return fmt.Errorf("template %s: %s differs from the image's (%d bytes, want %d)", ds, p, len(got), len(content))
		}
	}
	for _, p := range want.Absent {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return fmt.Errorf("template %s: %s exists; the image's top layer removes it", ds, p)
		}
	}
	return nil
}

// each runs fn(0..n-1) at once and waits for all.
func each(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

func roundAll(d []time.Duration) []time.Duration {
	r := make([]time.Duration, len(d))
	for i, x := range d {
		r[i] = x.Round(time.Millisecond)
	}
	return r
}

// hangReport is the state of a test that stopped making progress: every
// zfs, zfs-fuse, ctr, zfslxc, containerd and shim process with its state,
// wait channel and kernel stack, the test's goroutines, and containerd's
// and the snapshotter's goroutines (SIGUSR1 and SIGQUIT dump them into
// their logs; the snapshotter exits).
func (e *env) hangReport(t *testing.T) string {
	var b strings.Builder
	b.WriteString("== processes (pid state wchan cmdline, kernel stack)\n")
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", ent.Name())
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		argv0 := filepath.Base(string(bytes.SplitN(cmdline, []byte{0}, 2)[0]))
		if !slices.ContainsFunc([]string{"zfs", "zpool", "zfs-fuse", "ctr", "zfslxc", "containerd", "zfslxc-start", "lxc-"}, func(p string) bool {
			return argv0 == p || (len(p) > 3 && strings.HasPrefix(argv0, p))
		}) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(dir, "stat"))
		state := "?"
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
			state = string(stat[i+2 : i+3])
		}
		wchan, _ := os.ReadFile(filepath.Join(dir, "wchan"))
		fmt.Fprintf(&b, "%d %s %s %s\n", pid, state, wchan, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
		if kstack, err := os.ReadFile(filepath.Join(dir, "stack")); err == nil && len(kstack) > 0 {
			for _, l := range strings.Split(strings.TrimSpace(string(kstack)), "\n") {
				b.WriteString("    " + l + "\n")
			}
		}
	}
	b.WriteString("== the test's goroutines\n")
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	if err := e.d.Signal(syscall.SIGUSR1); err != nil {
		fmt.Fprintf(&b, "containerd: SIGUSR1: %v\n", err)
	}
	if err := e.sn.Signal(syscall.SIGQUIT); err != nil {
		fmt.Fprintf(&b, "snapshotter: SIGQUIT: %v\n", err)
	}
	time.Sleep(2 * time.Second)
	b.WriteString("== containerd's log (goroutine dump at the end)\n" + e.d.LogTail(300) + "\n")
	b.WriteString("== the snapshotter's log\n" + e.sn.LogTail(300) + "\n")
	return b.String()
}

// buildChurnImages writes TestChurn's images: the hello image's busybox
// layer, a layer all five share, a layer the even ones share, and one of
// their own that replaces a shared file and whites out another.
func buildChurnImages() ([]churnImage, error) {
	base, err := imagebuild.BusyboxLayer("")
	if err != nil {
		return nil, err
	}
	files := func(dir, seed string, n, size int) ([]imagebuild.Entry, map[string]string) {
		entries := []imagebuild.Entry{
			{Path: filepath.Dir(dir), Type: imagebuild.Dir, Mode: 0o755},
			{Path: dir, Type: imagebuild.Dir, Mode: 0o755},
		}
		if filepath.Dir(dir) == "/" {
			entries = entries[1:]
		}
		m := map[string]string{}
		for i := range n {
			p := fmt.Sprintf("%s/f%02d", dir, i)
			c := pseudoRandom(fmt.Sprintf("%s/%d", seed, i), size)
			entries = append(entries, imagebuild.Entry{Path: p, Content: []byte(c)})
			m[p] = c
		}
		return entries, m
	}
	names := func(n int) []string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("f%02d", i))
		}
		return s
	}
	sharedA, filesA := files("/shared/a", "a", 24, 48<<10)
	sharedB, filesB := files("/shared/b", "b", 24, 48<<10)
	var out []churnImage
	for i := range churnImages {
		own, filesOwn := files("/own", fmt.Sprintf("own%d", i), 16, 32<<10)
		replaced := pseudoRandom(fmt.Sprintf("replaced%d", i), 8<<10)
		own = append(own,
			imagebuild.Entry{Path: "/shared", Type: imagebuild.Dir, Mode: 0o755},
			imagebuild.Entry{Path: "/shared/a", Type: imagebuild.Dir, Mode: 0o755},
			imagebuild.Entry{Path: "/shared/a/f00", Content: []byte(replaced)},
			imagebuild.Entry{Path: "/shared/a/f01", Type: imagebuild.Whiteout},
		)
		img := &imagebuild.Image{
			Name:   fmt.Sprintf("docker.io/zfslxc/churn%d:latest", i),
			Layers: []imagebuild.Layer{base, {Gzip: true, Entries: sharedA}},
		}
		img.Config.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		want := imagebuild.Expectation{Files: map[string]string{}, Dirs: map[string][]string{}}
		for p, c := range filesA {
			want.Files[p] = c
		}
		if i%2 == 0 {
			img.Layers = append(img.Layers, imagebuild.Layer{Entries: sharedB})
			for p, c := range filesB {
				want.Files[p] = c
			}
			want.Dirs["/shared"] = []string{"a", "b"}
			want.Dirs["/shared/b"] = names(24)
		} else {
			want.Dirs["/shared"] = []string{"a"}
			want.Absent = append(want.Absent, "/shared/b")
		}
		img.Layers = append(img.Layers, imagebuild.Layer{Gzip: true, Entries: own})
		for p, c := range filesOwn {
			want.Files[p] = c
		}
		want.Files["/shared/a/f00"] = replaced
		delete(want.Files, "/shared/a/f01")
		want.Absent = append(want.Absent, "/shared/a/f01")
		want.Dirs["/shared/a"] = slices.DeleteFunc(names(24), func(n string) bool { return n == "f01" })
		want.Dirs["/own"] = names(16)
		tar := filepath.Join(imageDir, fmt.Sprintf("churn%d.tar", i))
		if _, err := img.WriteLayoutFile(tar); err != nil {
			return nil, err
		}
		out = append(out, churnImage{ref: img.Ref(), tar: tar, expect: want})
	}
	return out, nil
}

// pseudoRandom is size bytes that depend only on seed (SHA-256 in counter
// mode).
func pseudoRandom(seed string, size int) string {
	var b strings.Builder
	b.Grow(size)
	for i := 0; b.Len() < size; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", seed, i)))
		b.Write(sum[:min(len(sum), size-b.Len())])
	}
	return b.String()
}
